import crypto from 'node:crypto'

/** GUIDs as the classic product writes them: upper-case UUIDs (computers, managers, tenants). */
export function newGuid(): string {
  return crypto.randomUUID().toUpperCase()
}
