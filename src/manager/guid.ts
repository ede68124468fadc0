/** GUIDs as the classic product writes them: upper-case UUIDs (computers, managers, tenants). */
export function newGuid(): string {
  // Not `import crypto`, which evaluates its lazy parts too: the manager home loads this module for every command (dsm_c).
  return process.getBuiltinModule('node:crypto').randomUUID().toUpperCase()
}
