import {createRequire} from 'node:module'

import {FailureClass, TetherError} from '../errors.js'

/**
 * The classic status line (`HTTP Status: 200 - OK`) and the exit code it stands for. One table,
 * by status range, so the line and the exit code always agree (0 exactly on 200) and a status
 * the manager starts sending tomorrow needs no change here.
 */

const CLASS_BY_STATUS: Record<number, FailureClass> = {400: 'usage', 401: 'trust', 404: 'notFound', 500: 'internal'}

/** The failure class (hence exit code) of a non-200 status. */
export function failureForStatus(status: number): FailureClass {
  return CLASS_BY_STATUS[status] ?? (status >= 500 ? 'unreachable' : 'refused')
}

/** The status a local failure is reported with, when no manager gave one. */
export function statusForFailure(error: TetherError): number {
  const given = Number(error.details?.httpStatus)
  if (Number.isInteger(given) && given >= 100) return given
  switch (error.failure) {
    case 'usage': {
      return 400
    }

    case 'unreachable': {
      return 503
    }

    case 'internal': {
      return 500
    }

    case 'notFound': {
      return 404
    }

    // Authentication failed: a token, proxy credentials, a manager certificate that does not verify.
    case 'trust': {
      return 401
    }

    default: {
      return 403
    }
  }
}

/**
 * The reasons of the statuses tether itself reports, as node:http's STATUS_CODES has them (a test
 * compares): loading node:http for its table alone cost the classic tools' cold start 4 ms.
 */
export const LOCAL_STATUS_TEXT: Record<number, string> = {200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable'}

function statusText(status: number): string {
  // Any other status (one a manager sent) is rare: node:http loads for it then, synchronously.
  return LOCAL_STATUS_TEXT[status] ?? (createRequire(import.meta.url)('node:http') as typeof import('node:http')).STATUS_CODES[status] ?? 'Unknown'
}

export function statusLine(status: number, note?: string): string {
  return `HTTP Status: ${status} - ${statusText(status)}${note ? ` - ${note}` : ''}`
}

/** The same failure, in the class its status says (so the exit code agrees with the line). */
export function withStatusClass(error: TetherError, status: number): TetherError {
  const failure = failureForStatus(status)
  if (failure === error.failure && error.details?.httpStatus === status) return error
  return new TetherError(failure, error.code, error.message, {hint: error.hint, details: {...error.details, httpStatus: status}, cause: error})
}

/**
 * Run a classic action: on failure, print its status line (stdout, as scripts grep it) and rethrow
 * it in the class the status says; the `Error:` line follows on stderr.
 */
export async function withClassicStatus<T>(output: {log(line: string): void; json: boolean}, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (!(error instanceof TetherError)) throw error
    const status = statusForFailure(error)
    if (!output.json) output.log(statusLine(status, error.code === 'already-activated' ? 'reset agent first' : undefined))
    throw withStatusClass(error, status)
  }
}
