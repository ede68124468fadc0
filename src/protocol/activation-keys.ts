/**
 * The keyword:value words of `dsa_control -a` the agent passes on (ActivationRequestArgsSchema in
 * messages.ts). Apart from the schemas so the classic tools parse words without loading valibot.
 */
export const ACTIVATION_ARG_KEYS = ['hostname', 'displayname', 'description', 'group', 'groupid', 'policy', 'policyid', 'tenantID', 'token', 'relaygroup', 'relaygroupid', 'relayid', 'externalid'] as const
