import {classifyTlsError} from '../../channel/journal.js'
import {plainReason} from '../advice.js'
import type {Evidence, Finding} from './evidence.js'
import {opensslOf} from './openssl.js'

/** The first question: did we get a TCP connection and a TLS handshake at all? */
export function handshakeFailure({connection, wire, perspective, where}: Evidence): Finding | undefined {
  const error = connection.error!
  if (connection.stage === 'tcp-connect') {
    const reason = error.code === 'ECONNREFUSED' ? 'connection-refused' : error.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable'
    return {stage: 'tcp-connect', reason, message: `cannot reach ${where}: ${plainReason(reason)} (${error.code ?? error.message})`, openssl: opensslOf(error)}
  }

  if (connection.stage !== 'tls-handshake') return undefined
  const alert = wire?.serverAlert
  let {reason} = classifyTlsError(error)
  // TLS 1.2 servers answer a missing client certificate with a generic handshake_failure (40)
  // alert, which alone reads like a cipher mismatch; the captured CertificateRequest says more.
  if (wire?.certificateRequested && !perspective.identity && [40, 42, 116].includes(alert ?? -1)) reason = 'no-client-certificate'
  return {
    stage: 'tls-handshake',
    reason,
    message: `the TLS handshake with ${where} failed: ${plainReason(reason)} (${error.reason ?? error.message.split('\n')[0]})`,
    openssl: {...opensslOf(error), ...(alert === undefined ? {} : {alert})},
  }
}
