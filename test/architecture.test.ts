import fs from 'node:fs'
import path from 'node:path'
import {createRequire} from 'node:module'

import {cruise, type ICruiseResult, type IViolation} from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import ts from 'typescript'
import {beforeAll, describe, expect, it} from 'vitest'

import {ROOT, tempDir} from './helpers.js'

// The import rules of DESIGN.md live in .dependency-cruiser.cjs; this file runs them in npm test,
// proves each one reports a violating import, and adds two source checks dependency-cruiser
// cannot do: every dynamic import says why it is lazy, and SQL stays in the store modules.

const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs')
const RULES = createRequire(import.meta.url)(CONFIG).forbidden as Array<{name: string; comment: string}>

// ---- dependency-cruiser ------------------------------------------------------------------------

/** Cruise `<root>/src` with the project's rules, resolved with `<root>/tsconfig.json`. */
async function cruiseTree(root: string): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(CONFIG)
  const tsConfigFile = path.join(root, 'tsconfig.json')
  const {output} = await cruise(['src'], {...options, baseDir: root, tsConfig: {fileName: tsConfigFile}}, {}, {tsConfig: extractTSConfig(tsConfigFile)})
  return output as ICruiseResult
}

/** One line per violation: `rule: from -> to`, a cycle as its whole path, with the edge's kind. */
function violationLine(v: IViolation): string {
  const kind = (types?: string[]) => (types?.includes('type-only') ? ' (type-only)' : types?.includes('dynamic-import') ? ' (await import)' : '')
  if (v.cycle?.length) return `${v.rule.name}: ${v.from} -> ${v.cycle.map((step) => `${step.name}${kind(step.dependencyTypes)}`).join(' -> ')}`
  return `${v.rule.name}: ${v.from} -> ${v.to}${kind(v.dependencyTypes)}`
}

function violationLines(result: ICruiseResult): string[] {
  return (result.summary.violations ?? []).map(violationLine).sort()
}

/** The violations grouped by rule, each rule with what it protects; '' when there are none. */
function violationReport(result: ICruiseResult): string {
  const lines = violationLines(result)
  if (lines.length === 0) return ''
  const sections = RULES.filter((rule) => lines.some((line) => line.startsWith(`${rule.name}: `))).map((rule) =>
    [`${rule.name} (${rule.comment})`, ...lines.filter((line) => line.startsWith(`${rule.name}: `)).map((line) => `  ${line.slice(rule.name.length + 2)}`)].join('\n'),
  )
  return `${lines.length} import rule violation(s), see DESIGN.md "Layout and the direction of imports" and .dependency-cruiser.cjs:\n${sections.join('\n')}`
}

// ---- source files ------------------------------------------------------------------------------

interface Source {
  /** Path relative to the repository, with forward slashes (src/manager/contact.ts). */
  file: string
  ast: ts.SourceFile
}

function parse(file: string, text: string): Source {
  return {file, ast: ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)}
}

function srcFiles(dir = path.join(ROOT, 'src')): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? srcFiles(full) : entry.name.endsWith('.ts') ? [full] : []
  })
}

function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node)
  ts.forEachChild(node, (child) => walk(child, visit))
}

const lineOf = (source: Source, pos: number) => source.ast.getLineAndCharacterOfPosition(pos).line + 1

function isDynamicImport(node: ts.Node): node is ts.CallExpression {
  return ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
}

/** Relative module specifiers of a file: static imports and exports, `import()` calls, `import('x').T` types. */
function relativeImports(source: Source): Array<{specifier: string; dynamic: boolean}> {
  const found: Array<{specifier: string; dynamic: boolean}> = []
  walk(source.ast, (node) => {
    let specifier: ts.Node | undefined
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) specifier = node.moduleSpecifier
    else if (isDynamicImport(node)) specifier = node.arguments[0]
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) specifier = node.argument.literal
    if (specifier && ts.isStringLiteralLike(specifier) && specifier.text.startsWith('.')) found.push({specifier: specifier.text, dynamic: isDynamicImport(node)})
  })
  return found
}

// ---- check: every dynamic import says why it is lazy ----------------------------------------------

/** Words that state the one accepted reason for `await import()`: loading a heavy module lazily. */
const LAZY_REASON = /\b(lazy|lazily|heavy|loads?|loaded|loading|startup|start-up|on demand)\b/i

interface Comment {
  startLine: number
  endLine: number
  /** Nothing but indentation before it on its first line (not a trailing comment of the line above). */
  ownLine: boolean
  text: string
}

/** Every comment of a file: each one leads a token (on lines of its own) or trails one (on the token's line). */
function comments(source: Source): Comment[] {
  const byPos = new Map<number, Comment>()
  const text = source.ast.getFullText()
  const visit = (node: ts.Node) => {
    for (const range of [...(ts.getLeadingCommentRanges(text, node.pos) ?? []), ...(ts.getTrailingCommentRanges(text, node.end) ?? [])]) {
      const ownLine = text.slice(text.lastIndexOf('\n', range.pos - 1) + 1, range.pos).trim() === ''
      byPos.set(range.pos, {startLine: lineOf(source, range.pos), endLine: lineOf(source, range.end), ownLine, text: text.slice(range.pos, range.end)})
    }
    for (const child of node.getChildren(source.ast)) visit(child)
  }
  visit(source.ast)
  return [...byPos.values()]
}

/** The statement an expression belongs to (the comment explaining it may sit above that). */
function statementOf(node: ts.Node): ts.Node {
  let current = node
  while (current.parent && !ts.isBlock(current.parent) && !ts.isSourceFile(current.parent) && !ts.isCaseClause(current.parent)) current = current.parent
  return current
}

/** The comment on the same line, or the block of comment lines right above the line or its statement. */
function reasonFor(source: Source, call: ts.CallExpression, all: Comment[]): string {
  const line = lineOf(source, call.getStart(source.ast))
  const statementLine = lineOf(source, statementOf(call).getStart(source.ast))
  const sameLine = all.filter((c) => c.startLine === line || c.endLine === line)
  const ownLineEndingOn = (n: number) => all.find((c) => c.endLine === n && c.ownLine)
  const above = [line, statementLine].flatMap((first) => {
    const block: Comment[] = []
    for (let c = ownLineEndingOn(first - 1); c; c = ownLineEndingOn(c.startLine - 1)) block.unshift(c)
    return block
  })
  return [...sameLine, ...above].map((c) => c.text).join('\n')
}

/** `file:line: import(x)`, with what is wrong, for each dynamic import without its reason. */
function unexplainedDynamicImports(source: Source): string[] {
  let all: Comment[] | undefined
  const offenders: string[] = []
  walk(source.ast, (node) => {
    if (!isDynamicImport(node)) return
    all ??= comments(source)
    const where = `${source.file}:${lineOf(source, node.getStart(source.ast))}: ${node.getText(source.ast).replace(/\s+/g, ' ')}`
    const [specifier] = node.arguments
    if (!specifier || !ts.isStringLiteralLike(specifier)) offenders.push(`${where}: the specifier is not a string literal, so the import rules cannot see this edge`)
    else if (!LAZY_REASON.test(reasonFor(source, node, all))) offenders.push(`${where}: no comment on this line or right above saying which heavy module it loads lazily`)
  })
  return offenders
}

// ---- check: SQL only in the store modules -------------------------------------------------------

/** The modules that own SQL (DESIGN.md: the store is the only place with SQL). */
const STORE_MODULES = [/^src\/manager\/store\//, /^src\/agent\/database\.ts$/, /^src\/platform\/(sqlite|sqlite-journal|postgres|lock)\.ts$/]

/** SQL statements as tether writes them (keywords in capitals), matched as keyword pairs so English never matches. */
const SQL = [
  /\bSELECT\b[\s\S]*?\bFROM\b/,
  /\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b/,
  /\bUPDATE\s+\S+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /\b(?:CREATE|ALTER|DROP)\s+(?:TEMP(?:ORARY)?\s+)?TABLE\b/,
  /\bCREATE\s+(?:UNIQUE\s+)?INDEX\b/,
]

/** Methods of a database handle (better-sqlite3; `exec` only when the receiver is not a RegExp). */
const DB_METHODS = new Set(['prepare', 'pragma', 'transaction', 'exec'])

/** The text of a string or template literal, substitutions as `x`; undefined for anything else. */
function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteralLike(node)) return node.text
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((span) => ` x ${span.literal.text}`).join('')
  return undefined
}

/** Names that hold a RegExp in this file: initialised with /.../ or RegExp(), or declared `: RegExp`. */
function regExpNames(source: Source): Set<string> {
  const names = new Set<string>()
  walk(source.ast, (node) => {
    if ((ts.isVariableDeclaration(node) || ts.isPropertyDeclaration(node) || ts.isPropertyAssignment(node) || ts.isParameter(node)) && ts.isIdentifier(node.name)) {
      const typed = 'type' in node && node.type && ts.isTypeReferenceNode(node.type) && node.type.typeName.getText(source.ast) === 'RegExp'
      if (typed || (node.initializer && isRegExp(node.initializer, names))) names.add(node.name.text)
    }
  })
  return names
}

function isRegExp(node: ts.Expression, names: Set<string>): boolean {
  let inner = node
  while (ts.isParenthesizedExpression(inner)) inner = inner.expression
  if (inner.kind === ts.SyntaxKind.RegularExpressionLiteral) return true
  if ((ts.isNewExpression(inner) || ts.isCallExpression(inner)) && ts.isIdentifier(inner.expression) && inner.expression.text === 'RegExp') return true
  if (ts.isIdentifier(inner)) return names.has(inner.text)
  if (ts.isPropertyAccessExpression(inner)) return names.has(inner.name.text)
  return false
}

/** `file:line: what`, one per line with SQL strings or database calls, in a module that is not a store module. */
function sqlOutsideStores(source: Source): string[] {
  if (STORE_MODULES.some((store) => store.test(source.file))) return []
  const regExps = regExpNames(source)
  const byLine = new Map<number, string[]>()
  const report = (node: ts.Node, what: string) => {
    const line = lineOf(source, node.getStart(source.ast))
    byLine.set(line, [...(byLine.get(line) ?? []), what])
  }
  walk(source.ast, (node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && DB_METHODS.has(node.expression.name.text)) {
      const method = node.expression.name.text
      if (method !== 'exec' || !isRegExp(node.expression.expression, regExps)) report(node, `.${method}()`)
    }
    const text = literalText(node)
    if (text !== undefined && SQL.some((statement) => statement.test(text))) report(node, `SQL ${JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 50))}`)
  })
  return [...byLine].map(([line, what]) => `${source.file}:${line}: ${what.join(' ')}`)
}

// ---- the checks on src --------------------------------------------------------------------------

let sources: Source[]
let result: ICruiseResult

beforeAll(async () => {
  sources = srcFiles().map((full) => parse(path.relative(ROOT, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8')))
  result = await cruiseTree(ROOT)
})

describe('src follows the import rules of DESIGN.md', () => {
  it('has no import rule violations', () => {
    expect(violationReport(result)).toBe('')
  })

  it('resolves every relative import, static, type or await import(), to its .ts source', () => {
    const edges = new Map(result.modules.map((module) => [module.source, module.dependencies]))
    const checked: string[] = []
    const missing: string[] = []
    for (const source of sources) {
      for (const {specifier, dynamic} of relativeImports(source)) {
        const expected = path.posix.join(path.posix.dirname(source.file), specifier.replace(/\.js$/, '.ts'))
        const edge = edges.get(source.file)?.find((dependency) => dependency.module === specifier && dependency.dynamic === dynamic)
        checked.push(specifier)
        if (edge?.resolved !== expected) missing.push(`${source.file}: '${specifier}' should be ${dynamic ? 'a dynamic' : 'an'} edge to ${expected}, got ${JSON.stringify(edge ?? null)}`)
      }
    }
    expect(missing).toEqual([])
    expect(checked.length).toBeGreaterThan(sources.length)
  })

  it('gives every await import() a comment saying which heavy module it loads lazily', () => {
    expect(sources.flatMap(unexplainedDynamicImports)).toEqual([])
  })

  it('keeps SQL and database calls in the store modules', () => {
    expect(sources.flatMap(sqlOutsideStores)).toEqual([])
  })
})

// ---- each check bites ---------------------------------------------------------------------------

/** A tree with one violating import per rule, and a set of modules (ok.ts) that import only what they may. */
const VIOLATING_TREE: Record<string, string> = {
  'tsconfig.json': JSON.stringify({compilerOptions: {module: 'Node16', moduleResolution: 'Node16', strict: true}, include: ['src/**/*.ts']}),
  'test/helpers.ts': 'export const x = 1\n',
  // One chain up the layers, no cycle: each file imports a layer it must not.
  'src/errors.ts': "import {x as a} from './platform/lonely.js'\nexport const x = a\n",
  'src/platform/lonely.ts': 'export const x = 1\n',
  'src/platform/paths.ts': "import {x as a} from '../pki/cert.js'\nexport const x = a\n",
  'src/pki/cert.ts': "import {x as a} from '../protocol/codec.js'\nexport const x = a\n",
  'src/protocol/codec.ts': "import {x as a} from '../channel/tls.js'\nexport const x = a\n",
  'src/channel/tls.ts': "import {x as a} from '../manager/home.js'\nexport const x = a\n",
  'src/manager/home.ts': "import type {X} from '../agent/store.js'\nexport type Y = X\n",
  'src/agent/store.ts': "import {x} from '../cli/render.js'\nexport type X = typeof x\n",
  'src/cli/render.ts': "import {x as a} from '../util/strings.js'\nimport {x as b} from './missing.js'\nexport const x = a + b\n",
  'src/util/strings.ts': "import {x as a} from '../errors.js'\nexport const x = a\n",
  'src/agent/daemon.ts': "import {x as a} from '../manager/runtime.js'\nexport const x = a\n",
  'src/manager/runtime.ts': "import {x as a} from '../inspect/probe.js'\nexport const x = a\n",
  'src/inspect/probe.ts': "import {x as a} from '../lab/lab.js'\nexport const x = a\n",
  'src/lab/lab.ts': "import {x as a} from '../../test/helpers.js'\nexport const x = a\n",
  // A cycle closed only through await import().
  'src/commands/a.ts': "import {y} from './b.js'\nexport const x = y\n",
  'src/commands/b.ts': "export const y = 1\nexport async function later() {\n  return (await import('./a.js')).x\n}\n",
  // Allowed: each layer importing the layers below it.
  'src/platform/ok.ts': "import {x as e} from '../errors.js'\nexport const x = e\n",
  'src/pki/ok.ts': "import {x as a} from '../platform/ok.js'\nimport {x as e} from '../errors.js'\nexport const x = a + e\n",
  'src/protocol/ok.ts': "import {x as a} from '../pki/ok.js'\nimport {x as b} from '../platform/ok.js'\nexport const x = a + b\n",
  'src/channel/ok.ts': "import {x as a} from '../protocol/ok.js'\nimport {x as b} from '../pki/ok.js'\nimport {x as c} from '../platform/ok.js'\nexport const x = a + b + c\n",
  'src/manager/ok.ts': "import {x as a} from '../channel/ok.js'\nexport const x = a\n",
  'src/agent/ok.ts': "import type {x as a} from '../channel/ok.js'\nexport type X = typeof a\n",
  'src/inspect/ok.ts': "import {x as a} from '../manager/ok.js'\nimport type {X} from '../agent/ok.js'\nexport const x: X = a\n",
  'src/cli/ok.ts': "export async function later() {\n  // Lazy: inspection loads the whole TLS stack.\n  return (await import('../inspect/ok.js')).x\n}\n",
  'src/lab/ok.ts': "import {x as a} from '../manager/ok.js'\nimport {later} from '../cli/ok.js'\nexport const x = a + Number(later)\n",
  'src/compat/ok.ts': "import {later} from '../cli/ok.js'\nimport type {X} from '../agent/ok.js'\nexport const x: X = Number(later)\n",
  'src/commands/ok.ts': "import {x as a} from '../lab/ok.js'\nimport {x as b} from '../compat/ok.js'\nexport const x = a + b\n",
}

const EXPECTED_VIOLATIONS = [
  'agent-not-to-manager: src/agent/daemon.ts -> src/manager/runtime.ts',
  'channel-only-to-protocol-pki-platform: src/channel/tls.ts -> src/manager/home.ts',
  'errors-imports-nothing: src/errors.ts -> src/platform/lonely.ts',
  'from-outside-the-layers: src/util/strings.ts -> src/errors.ts',
  'inspect-not-to-top: src/inspect/probe.ts -> src/lab/lab.ts',
  'manager-not-to-agent: src/manager/home.ts -> src/agent/store.ts (type-only)',
  'no-circular: src/commands/a.ts -> src/commands/b.ts -> src/commands/a.ts (await import)',
  'not-to-unresolvable: src/cli/render.ts -> ./missing.js',
  'pki-only-to-platform: src/pki/cert.ts -> src/protocol/codec.ts',
  'platform-imports-nothing-above: src/platform/paths.ts -> src/pki/cert.ts',
  'protocol-only-to-pki-platform: src/protocol/codec.ts -> src/channel/tls.ts',
  'runtimes-not-to-inspect-or-top: src/agent/store.ts -> src/cli/render.ts',
  'runtimes-not-to-inspect-or-top: src/manager/runtime.ts -> src/inspect/probe.ts',
  'src-not-to-test-or-bench: src/lab/lab.ts -> test/helpers.ts',
  'to-outside-the-layers: src/cli/render.ts -> src/util/strings.ts',
]

describe('each check reports what it forbids', () => {
  it('reports one violating import per rule, type-only and await import() included, and nothing allowed', async () => {
    const root = tempDir('tether-architecture-')
    for (const [file, text] of Object.entries(VIOLATING_TREE)) {
      fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
      fs.writeFileSync(path.join(root, file), text)
    }
    const synthetic = await cruiseTree(root)
    expect(violationLines(synthetic)).toEqual(EXPECTED_VIOLATIONS)
    expect(new Set(EXPECTED_VIOLATIONS.map((line) => line.split(':')[0]))).toEqual(new Set(RULES.map((rule) => rule.name)))
    expect(violationReport(synthetic)).toContain('manager-not-to-agent (The manager and agent runtimes mirror each other')
  })

  it('reports a dynamic import without its reason, or with a non-literal specifier', () => {
    const source = parse('src/manager/example.ts', [
      "import {a} from './a.js'",
      '',
      'export async function one() {',
      '  // The agent is back to bootstrap: its certificate is now revoked.',
      "  const {finishDeactivation} = await import('./deactivation.js')",
      '  return finishDeactivation',
      '}',
      '',
      'export async function two(name: string) {',
      '  // Lazy: forge takes 80 ms to load and only issuance needs it.',
      '  return import(name)',
      '}',
      '',
      '// Lazy: node-forge is heavy (80 ms) and only issuance needs it.',
      "export const three = async () => (await import('node-forge')).default",
      '',
      'export async function four() {',
      '  // Loaded lazily: the prompt library costs 40 ms',
      '  // and only an interactive run needs it.',
      '  const {confirm} =',
      "    await import('@inquirer/prompts')",
      "  const {input} = await import('@inquirer/prompts') // lazy, as above",
      '  return [confirm, input, a]',
      '}',
      '',
      "export const five = async () => 1 // heavy lifting happens elsewhere",
      "export const six = async () => (await import('./six.js')).x",
    ].join('\n'))
    expect(unexplainedDynamicImports(source)).toEqual([
      "src/manager/example.ts:5: import('./deactivation.js'): no comment on this line or right above saying which heavy module it loads lazily",
      'src/manager/example.ts:11: import(name): the specifier is not a string literal, so the import rules cannot see this edge',
      "src/manager/example.ts:27: import('./six.js'): no comment on this line or right above saying which heavy module it loads lazily",
    ])
  })

  it('reports SQL and database calls outside the store modules, not regexes or English', () => {
    const code = [
      // As in src/manager/contact.ts, src/channel/journal.ts and src/lab/demo.ts today.
      "db.prepare(\"UPDATE computers SET host_info = json_set(coalesce(host_info, '{}'), '$.clock', ?) WHERE id = ?\").run(status.clock, computer.id)",
      'const insert = db.prepare(`INSERT INTO handshakes (at, tls_role, http_role)',
      '  VALUES (@at, @tlsRole, @httpRole)`)',
      "const events = (manager.db.prepare('SELECT count(*) AS n FROM events WHERE computer_id = ?').get(id) as {n: number}).n",
      'const COLUMNS = `SELECT id, name FROM ${table}`',
      "db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)')",
      'db.transaction(() => undefined)()',
      "registry.pragma('wal_checkpoint(TRUNCATE)')",
      // Not SQL: regexes, English, comments. DELETE FROM is in this comment only.
      'const relative = /^(\\d+)\\s*([smhd])$/i.exec(text.trim())',
      'const bracketed = /^\\[([^\\]]+)\\](?::(\\d+))?$/.exec(target)',
      'const PATTERN = /x/g; const hit = PATTERN.exec(text)',
      'const matcher: RegExp = new RegExp(name); matcher.exec(text)',
      "throw new TetherError('usage', 'no-computer', 'Select a computer from the list, or delete from the registry first', {hint: 'update the policy, then set it'})",
      "const help = 'Create table-top exercises; insert into a slot; SELECT your agent'",
    ].join('\n')
    expect(sqlOutsideStores(parse('src/channel/example.ts', code))).toEqual([
      'src/channel/example.ts:1: .prepare() SQL "UPDATE computers SET host_info = json_set(coalesce"',
      'src/channel/example.ts:2: .prepare() SQL "INSERT INTO handshakes (at, tls_role, http_role) V"',
      'src/channel/example.ts:4: .prepare() SQL "SELECT count(*) AS n FROM events WHERE computer_id"',
      'src/channel/example.ts:5: SQL "SELECT id, name FROM x"',
      'src/channel/example.ts:6: .exec() SQL "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEX"',
      'src/channel/example.ts:7: .transaction()',
      'src/channel/example.ts:8: .pragma()',
    ])
    for (const store of ['src/manager/store/computers.ts', 'src/agent/database.ts', 'src/platform/sqlite.ts', 'src/platform/lock.ts', 'src/platform/postgres.ts']) {
      expect(sqlOutsideStores(parse(store, code))).toEqual([])
    }
  })
})
