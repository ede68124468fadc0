import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * `tether --help` (and `tether` alone) without oclif: loading oclif, its configuration and its
 * plugins is most of that start-up. The same bytes oclif's root help prints, from the same inputs
 * (package.json, oclif.manifest.json, the core plugins' manifests) and with the same layout rules
 * (@oclif/core's Help and HelpFormatter, wrap-ansi's hard wrap, indent-string), read from
 * @oclif/core 4 and compared by test/direct-path.test.ts. Only for the plain case it can be sure
 * of: no colour possible, no theme, no user or linked plugins, manifests of the package's version,
 * printable ASCII text, no template but `<%= config.bin %>`; anything else is undefined here and
 * oclif renders it.
 */

interface PackageJson {
  name: string
  version?: string
  description?: string
  dependencies?: Record<string, string>
  oclif: Record<string, unknown> & {bin?: string; description?: string; plugins?: string[]; topics?: Record<string, Topic>}
}

interface Topic {
  name: string
  description?: string
  hidden?: boolean
  subtopics?: unknown
}

interface ManifestCommand {
  id: string
  hidden?: boolean
  summary?: string
  description?: string
  aliases?: string[]
  hiddenAliases?: string[]
  state?: string
}

/** Settings of package.json's oclif section this renderer knows to have no effect on the root help. */
const KNOWN_SETTINGS = new Set(['bin', 'dirname', 'commands', 'topicSeparator', 'plugins', 'hooks', 'topics'])

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

/** Printable ASCII only: where every character is one column wide and no normalization applies. */
const PLAIN = /^[\u0020-\u007E]*$/

/** The width oclif wraps at, when no colour is possible; undefined when colour may be (or the width is odd). */
function plainWidth(env: NodeJS.ProcessEnv, stdout: NodeJS.WriteStream): number | undefined {
  // oclif colours through supports-color (off for a stream that is not a terminal, unless
  // FORCE_COLOR) and ansis (off with NO_COLOR).
  if (!(env.NO_COLOR || (!stdout.isTTY && !('FORCE_COLOR' in env)))) return undefined
  const columns = Number.parseInt(env.OCLIF_COLUMNS ?? '', 10)
  if (columns < 0) return undefined
  if (columns) return columns
  if (!stdout.isTTY) return 80
  const width = stdout.getWindowSize()[0]
  return width < 1 ? 80 : Math.max(width, 40)
}

/** oclif's platform name, unless this may be WSL (which oclif names `wsl`, after a docker check). */
function platform(): string | undefined {
  if (process.platform !== 'linux') return process.platform
  if (os.release().toLowerCase().includes('microsoft')) return undefined
  try {
    return fs.readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft') ? undefined : 'linux'
  } catch {
    return 'linux'
  }
}

/** wrap-ansi 7 (`{hard: true}`) for one line of printable ASCII. */
function wrapLine(line: string, columns: number): string {
  if (line.trim() === '') return ''
  const rows = ['']
  const last = () => rows.length - 1
  for (const [index, word] of line.split(' ').entries()) {
    rows[last()] = rows[last()].trimStart()
    let rowLength = rows[last()].length
    if (index !== 0 && rowLength > 0) {
      rows[last()] += ' '
      rowLength++
    }

    if (word.length > columns) {
      const breaksStartingThisLine = 1 + Math.floor((word.length - (columns - rowLength) - 1) / columns)
      const breaksStartingNextLine = Math.floor((word.length - 1) / columns)
      if (breaksStartingNextLine < breaksStartingThisLine) rows.push('')
      let visible = rows[last()].length
      for (const [i, character] of [...word].entries()) {
        if (visible + 1 <= columns) {
          rows[last()] += character
        } else {
          rows.push(character)
          visible = 0
        }

        visible++
        if (visible === columns && i < word.length - 1) {
          rows.push('')
          visible = 0
        }
      }

      continue
    }

    if (rowLength + word.length > columns && rowLength > 0 && word.length > 0) rows.push('')
    rows[last()] += word
  }

  return rows.map((row) => row.replace(/ +$/, '')).join('\n')
}

/** The root help text, or undefined: oclif renders it. */
export function rootHelp(root: string, env: NodeJS.ProcessEnv = process.env, stdout: NodeJS.WriteStream = process.stdout): string | undefined {
  const width = plainWidth(env, stdout)
  const platformName = platform()
  const pjson = readJson<PackageJson>(path.join(root, 'package.json'))
  if (width === undefined || platformName === undefined || !pjson?.oclif) return undefined
  const settings = pjson.oclif
  if (Object.keys(settings).some((key) => !KNOWN_SETTINGS.has(key)) || settings.topicSeparator !== ' ' || typeof settings.commands !== 'string') return undefined
  // The one init hook, tether's not-found (nothing to do for these command lines); debugging output and oclif's own switches are oclif's.
  if (JSON.stringify(settings.hooks) !== JSON.stringify({init: './dist/cli/not-found.js'})) return undefined
  if (env.DEBUG || Object.keys(env).some((key) => key.startsWith('OCLIF_') && key !== 'OCLIF_COLUMNS')) return undefined
  const bin = settings.bin || pjson.name
  const version = pjson.version || '0.0.0'
  const dirname = typeof settings.dirname === 'string' ? settings.dirname : pjson.name
  // A user's theme, user or linked plugins (in oclif's data directory): oclif's to load.
  const home = env.HOME || os.homedir() || os.tmpdir()
  const scoped = (key: string) => env[`${bin.replaceAll('@', '').replaceAll(/[/-]/g, '_')}_${key}`.toUpperCase()]
  const configDir = scoped('CONFIG_DIR') || path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), dirname)
  const dataDir = scoped('DATA_DIR') || path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), dirname)
  if (scoped('DEBUG') || fs.existsSync(path.join(configDir, 'theme.json')) || fs.existsSync(path.join(dataDir, 'package.json'))) return undefined

  // The commands of the package and of its core plugins, each manifest of its package's version.
  const plugins = [{root, pjson}]
  for (const name of settings.plugins ?? []) {
    if (!pjson.dependencies?.[name]) return undefined
    const pluginRoot = path.join(root, 'node_modules', name)
    const pluginJson = readJson<PackageJson>(path.join(pluginRoot, 'package.json'))
    const hooks = Object.keys((pluginJson?.oclif.hooks as object | undefined) ?? {})
    if (!pluginJson?.oclif || pluginJson.oclif.plugins || pluginJson.oclif.topics || hooks.some((hook) => ['init', 'finally'].includes(hook))) return undefined
    plugins.push({root: pluginRoot, pjson: pluginJson})
  }

  const commands: ManifestCommand[] = []
  for (const plugin of plugins) {
    const manifest = readJson<{version: string; commands: Record<string, ManifestCommand>}>(path.join(plugin.root, 'oclif.manifest.json'))
    if (!manifest || !plugin.pjson.version || manifest.version.split('-')[0] !== plugin.pjson.version.split('-')[0]) return undefined
    commands.push(...Object.values(manifest.commands))
  }

  if (new Set(commands.map((c) => c.id)).size !== commands.length || !commands.every((c) => PLAIN.test(c.id))) return undefined
  if (commands.some((c) => c.aliases?.length || c.hiddenAliases?.length || c.state)) return undefined

  // Topics: package.json's, then one per prefix of each visible command id (oclif's loadTopics).
  const topics = new Map<string, Topic>()
  const addTopics = (input: Record<string, Topic> | undefined, base: string): boolean => {
    for (const [key, topic] of Object.entries(input ?? {})) {
      if (topic.subtopics !== undefined || topics.has(`${base}${key}`)) return false
      topics.set(`${base}${key}`, {...topic, name: `${base}${key}`})
    }

    return true
  }

  if (!addTopics(settings.topics, '')) return undefined
  for (const c of commands.filter((command) => !command.hidden)) {
    const parts = c.id.split(':')
    for (; parts.length > 0; parts.pop()) {
      const name = parts.join(':')
      if (name && !topics.has(name)) topics.set(name, {description: c.summary || c.description, name})
    }
  }

  // ejs, for the one template tether's texts use; any other is oclif's to render.
  const texts = [pjson.description, ...commands.flatMap((c) => [c.summary, c.description]), ...[...topics.values()].map((t) => t.description)]
  if (texts.some((text) => text !== undefined && text.replaceAll('<%= config.bin %>', '').includes('<%'))) return undefined
  const render = (text: string) => text.replaceAll('<%= config.bin %>', bin)
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

  const wrap = (text: string, spacing: number): string | undefined => {
    const columns = width - spacing
    if (columns < 1 || !render(text).split('\n').every((line) => PLAIN.test(line))) return undefined
    return render(text).split('\n').map((line) => wrapLine(line, columns)).join('\n')
  }

  const indent = (text: string, count: number) => text.replace(/^(?!\s*$)/gm, ' '.repeat(count))
  const section = (header: string, body: string) => `${header}\n${indent(render(body), 2)}`

  /** HelpFormatter.renderList, `{indentation: 2, spacer: '\n'}`, short of its multi-line layout. */
  const renderList = (rows: Array<[string, string | undefined]>): string | undefined => {
    const maxLength = Math.max(0, ...rows.map(([left]) => left.length))
    let output = ''
    let cur = ''
    for (const [left, right] of rows) {
      if (cur) output += `\n${cur}`
      cur = left
      if (!right) {
        cur = cur.trim()
        continue
      }

      const wrapped = wrap(right.trim(), 2 + maxLength + 2)
      if (wrapped === undefined) return undefined
      const [first, ...lines] = wrapped.split('\n').map((s) => s.trim())
      cur += ' '.repeat(maxLength - cur.length + 2) + first
      if (lines.length === 0) continue
      if (lines.length > 4) return undefined
      cur += `\n${indent(lines.join('\n'), maxLength + 2)}`
    }

    if (cur) output += `\n${cur}`
    return output.trim()
  }

  const description = render(settings.description || pjson.description || '')
  if (description.includes('\n') || !PLAIN.test(description)) return undefined
  const userAgent = wrap(`${pjson.name}/${version} ${platformName}-${os.arch() === 'ia32' ? 'x86' : os.arch()} node-${process.version}`, 2)
  const usage = wrap(`$ ${bin} [COMMAND]`, 2)
  if (userAgent === undefined || usage === undefined) return undefined
  const head = [description, section('VERSION', userAgent), section('USAGE', usage)].filter(Boolean).join('\n\n')

  const rootTopics = [...topics.values()]
    .filter((topic) => [...topics.keys()].some((name) => name.includes(`${topic.name}:`)))
    .filter((topic) => !topic.hidden && !topic.name.includes(':'))
    .sort((a, b) => byName(a.name, b.name))
  // A topic only a command id implies takes its text from the first such command in oclif's
  // (locale) order: one listed here must be package.json's.
  if (rootTopics.some((topic) => !Object.hasOwn(settings.topics ?? {}, topic.name) || !PLAIN.test(topic.name))) return undefined
  const rootCommands = commands.filter((c) => !c.hidden && c.id && !c.id.includes(':')).sort((a, b) => byName(a.id, b.id))
  const summary = (c: ManifestCommand) => (c.summary ? render(c.summary.split('\n')[0]) : c.description && render(c.description).split('\n')[0])
  const topicList = renderList(rootTopics.map((t) => [t.name, t.description && render(t.description.split('\n')[0])]))
  const commandList = renderList(rootCommands.map((c) => [c.id, summary(c)]))
  if (topicList === undefined || commandList === undefined) return undefined

  let text = `${head}\n\n`
  if (rootTopics.length > 0) text += `${section('TOPICS', topicList)}\n\n`
  if (rootCommands.length > 0) text += `${section('COMMANDS', commandList)}\n\n`
  return text
}
