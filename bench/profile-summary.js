// Summarize V8 CPU profiles (.cpuprofile, from `node --cpu-prof` or bench/profiler.js): the top
// functions by self time, and by inclusive time per module (a file under src/ or a package), so
// hot spots can be named without opening DevTools.
//
//   node bench/profile-summary.js FILE.cpuprofile [--top N] [--filter TEXT] [--callers TEXT]
//
// --callers TEXT: instead, the call paths (innermost first, 8 frames) of the samples whose own
// frame's label contains TEXT, heaviest first: where a hot function is called from.
//
// Percentages are of the busy samples (all but "(idle)": the process waiting on its peers), with
// milliseconds beside. A native function (no source: OpenSSL through node:crypto/tls, the
// better-sqlite3 addon, zlib) is shown with the nearest JavaScript frame that called it, so `run`
// of better-sqlite3 reads as the store call it came from. "(program)" is native work V8 cannot
// attribute to any JavaScript frame (TLS handshakes driven from libuv callbacks, for one).
import fs from 'node:fs'
import path from 'node:path'

const options = {'--top': '25', '--filter': undefined, '--callers': undefined}
let file
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i++) {
  if (Object.hasOwn(options, args[i])) options[args[i]] = args[++i]
  else if (!file && !args[i].startsWith('--')) file = args[i]
  else file = undefined
}

const top = Number(options['--top'])
const filter = options['--filter']
if (!file || !Number.isInteger(top) || top < 1) {
  console.error('usage: node bench/profile-summary.js FILE.cpuprofile [--top N] [--filter TEXT] [--callers TEXT]')
  process.exit(2)
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

// Sample counts per node: samples[] lists node ids, one per sampling interval.
const hits = new Map()
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
const total = profile.samples.length
const durationMs = (profile.endTime - profile.startTime) / 1000

/** Where a frame is: src/... for tether's own (dist/ mapped back), the package for node_modules, node: for core. */
function where(frame) {
  const url = frame.url ?? ''
  if (!url) return ''
  const dist = url.indexOf('/dist/')
  if (dist >= 0) return `src/${url.slice(dist + 6).replace(/\.js$/, '.ts')}`
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }

  if (url.startsWith('node:')) return url
  return path.basename(url)
}

/** Function and place; tether's own with its dist/ file and line (the compiled line, not the .ts one). */
function label(frame) {
  const url = frame.url ?? ''
  const dist = url.indexOf('/dist/')
  const place = dist >= 0 ? url.slice(dist + 1) : where(frame)
  return `${frame.functionName || '(anonymous)'} ${place}${url ? `:${frame.lineNumber + 1}` : ''}`.trim()
}

/** A frame's label; a native one's with the nearest caller that has a source location. */
function selfLabel(id) {
  const frame = byId.get(id).callFrame
  if (frame.url || frame.functionName.startsWith('(')) return label(frame)
  for (let n = parent.get(id); n !== undefined; n = parent.get(n)) {
    const caller = byId.get(n).callFrame
    if (caller.url && !caller.url.startsWith('node:')) return `${frame.functionName} [native] <- ${label(caller)}`
  }

  return `${frame.functionName} [native]`
}

const self = new Map()
for (const [id, count] of hits) {
  const key = selfLabel(id)
  self.set(key, (self.get(key) ?? 0) + count)
}

// Inclusive time per module: a sample counts once for each module on its stack.
const inclusive = new Map()
for (const [id, count] of hits) {
  const seen = new Set()
  for (let n = id; n !== undefined; n = parent.get(n)) {
    const m = where(byId.get(n).callFrame) || byId.get(n).callFrame.functionName
    if (m && !seen.has(m)) {
      seen.add(m)
      inclusive.set(m, (inclusive.get(m) ?? 0) + count)
    }
  }
}

const idle = [...hits].filter(([id]) => byId.get(id).callFrame.functionName === '(idle)').reduce((sum, [, n]) => sum + n, 0)
const busy = Math.max(1, total - idle)
const msPerSample = durationMs / Math.max(1, total)
// Inclusive time per tether function (dist/ frames): a sample counts once for each on its stack.
const inclusiveFunctions = new Map()
for (const [id, count] of hits) {
  const seen = new Set()
  for (let n = id; n !== undefined; n = parent.get(n)) {
    const frame = byId.get(n).callFrame
    if (!(frame.url ?? '').includes('/dist/')) continue
    const key = label(frame)
    if (!seen.has(key)) {
      seen.add(key)
      inclusiveFunctions.set(key, (inclusiveFunctions.get(key) ?? 0) + count)
    }
  }
}

const pct = (n) => `${((100 * n) / busy).toFixed(1)}%`.padStart(6) + `${(n * msPerSample).toFixed(0)} ms`.padStart(9)
const show = (map, title) => {
  console.log(`\n${title}`)
  const rows = [...map].filter(([k]) => k !== '(idle)' && k !== '(root)' && (!filter || k.includes(filter))).sort((a, b) => b[1] - a[1]).slice(0, top)
  for (const [k, n] of rows) console.log(`${pct(n)}  ${k}`)
}

if (options['--callers']) {
  const paths = new Map()
  for (const [id, count] of hits) {
    if (!selfLabel(id).includes(options['--callers'])) continue
    const frames = []
    for (let n = id; n !== undefined && frames.length < 8; n = parent.get(n)) {
      const f = byId.get(n).callFrame
      if (f.functionName !== '(root)') frames.push(label(f))
    }

    const key = frames.join('\n      <- ')
    paths.set(key, (paths.get(key) ?? 0) + count)
  }

  console.log(`${file}: call paths of "${options['--callers']}" (percentages of the busy samples)`)
  for (const [key, n] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`\n${pct(n)}  ${key}`)
  process.exit(0)
}

console.log(`${file}: ${total} samples over ${durationMs.toFixed(0)} ms, ${((100 * idle) / Math.max(1, total)).toFixed(1)}% idle; percentages of the ${busy} busy samples`)
show(self, `top ${top} by self time`)
show(inclusive, `top ${top} modules by inclusive time`)
show(inclusiveFunctions, `top ${top} tether functions by inclusive time`)
