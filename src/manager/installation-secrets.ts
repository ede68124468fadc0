import {TetherError} from '../errors.js'
import {seal, unseal} from '../pki/seal.js'
import type {ManagerStore} from './store/store.js'

/**
 * The installation's secrets in a shared database: the CA private key and the binding identity's
 * key, each sealed under the nodes' key-encryption key (pki/seal.ts) for its purpose and this
 * installation; the binding certificate itself is public. The database alone opens none of them.
 */

export const SECRET_KEYS = {caKey: 'sealed_ca_key', bindingCert: 'binding_cert', bindingKey: 'sealed_binding_key'} as const

export interface InstallationSecrets {
  caKeyPem: string
  binding: {certPem: string; keyPem: string}
}

const purpose = (what: string, managerGuid: string) => `tether ${what} of installation ${managerGuid}`

/** The meta entries that hold the secrets, sealed. */
export function sealedEntries(kek: Buffer, managerGuid: string, secrets: InstallationSecrets): Record<string, string> {
  return {
    [SECRET_KEYS.caKey]: seal(kek, secrets.caKeyPem, purpose('CA key', managerGuid)),
    [SECRET_KEYS.bindingCert]: secrets.binding.certPem,
    [SECRET_KEYS.bindingKey]: seal(kek, secrets.binding.keyPem, purpose('binding key', managerGuid)),
  }
}

export async function openSecrets(store: ManagerStore, kek: Buffer, managerGuid: string): Promise<InstallationSecrets> {
  const [caKey, bindingCert, bindingKey] = await Promise.all(Object.values(SECRET_KEYS).map((key) => store.meta.get(key)))
  if (caKey === undefined || bindingCert === undefined || bindingKey === undefined) {
    throw new TetherError('internal', 'installation-incomplete', `the database ${store.location} holds no sealed CA key or binding identity`, {
      hint: 'it was not set up by `tether manager init --database` or `tether manager migrate`; point the node at its installation\'s database',
    })
  }

  return {
    caKeyPem: unseal(kek, caKey, purpose('CA key', managerGuid), 'the CA key'),
    binding: {certPem: bindingCert, keyPem: unseal(kek, bindingKey, purpose('binding key', managerGuid), 'the binding key')},
  }
}

/** The binding certificate alone (public: what `export-cert` writes on PostgreSQL). */
export async function bindingCertificatePem(store: ManagerStore): Promise<string | undefined> {
  return store.meta.get(SECRET_KEYS.bindingCert)
}
