// The import rules of DESIGN.md ("Layout and the direction of imports"), checked by
// test/architecture.test.ts in `npm test`. By hand: npx depcruise src
// Layers, top to bottom; imports point down this list and never up:
//   commands compat cli lab > inspect > manager | agent > channel > protocol > pki > platform > errors.ts
// Type-only imports count: a type import couples layers as much as a value import.

const TOP = '^src/(commands|compat|cli|lab)/'
const INSPECT = '^src/inspect/'
const MANAGER = '^src/manager/'
const AGENT = '^src/agent/'
const ERRORS = '^src/errors[.]ts$'
const KNOWN = [TOP, INSPECT, MANAGER, AGENT, '^src/(channel|protocol|pki|platform)/', ERRORS]

/** A module of `from` may import, of tether's own code, only modules of `allowed`. */
function onlyDown(name, from, allowed, comment) {
  return {name, severity: 'error', comment, from: {path: from}, to: {path: '^src/', pathNot: allowed}}
}

module.exports = {
  forbidden: [
    {
      name: 'inspect-not-to-top',
      severity: 'error',
      comment: 'Handshake inspection is a library under the CLI: it may use manager, agent and below, never commands, compat, cli or lab.',
      from: {path: INSPECT},
      to: {path: TOP},
    },
    {
      name: 'manager-not-to-agent',
      severity: 'error',
      comment: 'The manager and agent runtimes mirror each other and share only lower layers (channel, protocol, pki, platform); the manager never imports the agent.',
      from: {path: MANAGER},
      to: {path: AGENT},
    },
    {
      name: 'agent-not-to-manager',
      severity: 'error',
      comment: 'The agent and manager runtimes mirror each other and share only lower layers (channel, protocol, pki, platform); the agent never imports the manager.',
      from: {path: AGENT},
      to: {path: MANAGER},
    },
    {
      name: 'runtimes-not-to-inspect-or-top',
      severity: 'error',
      comment: 'The manager and agent runtimes sit below inspect and the CLI: they never import inspect, commands, compat, cli or lab.',
      from: {path: [MANAGER, AGENT]},
      to: {path: [INSPECT, TOP]},
    },
    onlyDown('channel-only-to-protocol-pki-platform', '^src/channel/', ['^src/(channel|protocol|pki|platform)/', ERRORS],
      'TLS and HTTP sessions serve both runtimes: channel uses only protocol, pki and platform (and errors.ts), never manager, agent, inspect or the CLI.'),
    onlyDown('protocol-only-to-pki-platform', '^src/protocol/', ['^src/(protocol|pki|platform)/', ERRORS],
      'Message names, schemas and the codec know nothing of sessions or runtimes: protocol uses only pki and platform (and errors.ts).'),
    onlyDown('pki-only-to-platform', '^src/pki/', ['^src/(pki|platform)/', ERRORS],
      'Certificates, CRLs and CMS are plain crypto: pki uses only platform (and errors.ts).'),
    onlyDown('platform-imports-nothing-above', '^src/platform/', ['^src/platform/', ERRORS],
      'platform (paths, atomic files, locks, database drivers, logging) is the floor: it imports nothing of tether above it, only errors.ts.'),
    {
      name: 'errors-imports-nothing',
      severity: 'error',
      comment: 'errors.ts holds the one error type every layer imports; it imports nothing of tether, so it can never take part in a cycle.',
      from: {path: ERRORS},
      to: {path: '^src/'},
    },
    {
      name: 'src-not-to-test-or-bench',
      severity: 'error',
      comment: 'The shipped code stands alone: nothing in src imports from test/ or bench/ (they are not in the package).',
      from: {path: '^src/'},
      to: {path: '^(test|bench)/'},
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No cycles, static or through await import(): a dynamic import only loads a heavy module lazily, it is not a way around a cycle.',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file is an edge the other rules cannot see (and fails at run time).',
      from: {path: '^src/'},
      to: {couldNotResolve: true},
    },
    {
      name: 'from-outside-the-layers',
      severity: 'error',
      comment: 'Every module in src belongs to one layer of DESIGN.md; a module elsewhere would escape all the rules above. Move it into a layer (or add the layer to DESIGN.md and here).',
      from: {path: '^src/', pathNot: KNOWN},
      to: {},
    },
    {
      name: 'to-outside-the-layers',
      severity: 'error',
      comment: 'Every module in src belongs to one layer of DESIGN.md; a module elsewhere would escape all the rules above. Move it into a layer (or add the layer to DESIGN.md and here).',
      from: {path: '^src/'},
      to: {path: '^src/', pathNot: KNOWN},
    },
  ],
  options: {
    // Resolve the sources as tsc does (Node16: './x.js' in a .ts file is './x.ts').
    tsConfig: {fileName: 'tsconfig.json'},
    // Keep `import type` edges (tagged "type-only"); they count for every rule.
    tsPreCompilationDeps: true,
    // tether is ESM only; `await import()` edges are found under es6 and tagged "dynamic-import".
    moduleSystems: ['es6'],
    // Only src is judged: record edges into packages, test/ and bench/ but don't cruise them.
    doNotFollow: {path: ['node_modules', '^test/', '^bench/']},
    enhancedResolveOptions: {exportsFields: ['exports'], conditionNames: ['import', 'node', 'default']},
    skipAnalysisNotInRules: true,
  },
}
