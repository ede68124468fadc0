import {Flags} from '@oclif/core'

import {TetherCommand} from '../../cli/base-command.js'
import {dsaCoreFlag, homeFlag} from '../../cli/flags.js'
import {paint, printableFields} from '../../cli/render.js'
import {JOURNAL_MAX_ENTRIES} from '../../platform/sqlite-journal.js'
import {followJournal, formatEntry, openJournal, parseSince, resolveJournalSource} from '../../inspect/journal/view.js'

export default class HandshakeLog extends TetherCommand {
  static summary = 'Show the handshake journal: every TLS handshake attempt, accepted or refused'
  static description = `Both runtimes record every handshake attempt: time, local role (TLS client/server, HTTP client/server), peer address, security context (bootstrap, pre-activated, mutual), protocol, cipher, the peer certificate's SHA-256 and subject, the result (accepted, refused, failed) and a stable reason code. Newest last; refused handshakes are red on a terminal. The journal keeps the latest ${JOURNAL_MAX_ENTRIES} entries.

Which journal: --home, the manager's; --dsa-core, the agent's; neither: $TETHER_MANAGER_HOME, then $TETHER_DSA_CORE, then whichever default location has one (manager first).

--follow keeps printing new entries until interrupted (Ctrl-C); with --json it prints one JSON object per line.`
  static examples = [
    '<%= config.bin %> handshake log --dsa-core /var/opt/ds_agent/dsa_core --since 1h',
    '<%= config.bin %> handshake log --home ~/.local/share/tether/manager --json | jq \'.entries[] | select(.result == "refused")\'',
    '<%= config.bin %> handshake log --follow',
  ]

  static flags = {
    home: homeFlag,
    'dsa-core': dsaCoreFlag,
    since: Flags.string({description: 'only entries since this time (ISO 8601) or age (30s, 15m, 2h, 7d)', helpValue: 'WHEN'}),
    limit: Flags.integer({description: 'show at most the newest N entries (before following)', min: 1, helpValue: 'N'}),
    follow: Flags.boolean({char: 'f', description: 'keep printing new entries as they are recorded', default: false}),
    interval: Flags.integer({description: 'milliseconds between polls with --follow', default: 500, min: 50, hidden: true}),
  }

  async run() {
    const {flags} = await this.parse(HandshakeLog)
    const source = resolveJournalSource({home: flags.home, dsaCore: flags['dsa-core']})
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    const journal = await openJournal(source)
    try {
      const entries = await journal.read({since, limit: flags.limit ?? JOURNAL_MAX_ENTRIES})
      if (!flags.follow) {
        if (!this.jsonEnabled()) {
          this.log(`Handshake journal of the ${source.kind} (${source.file}): ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}`)
          for (const row of entries) this.log(formatEntry(printableFields(row), paint.stdout))
        }

        return {source: source.kind, file: source.file, entries}
      }

      const print = (rows: typeof entries) => {
        for (const row of rows) {
          if (this.jsonEnabled()) this.jsonLine(row)
          // Peer subjects and details come from whoever connected: printable for a terminal.
          else this.log(formatEntry(printableFields(row), paint.stdout))
        }
      }

      if (!this.jsonEnabled()) this.log(`Following the handshake journal of the ${source.kind} (${source.file}); Ctrl-C to stop`)
      print(entries)
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        // With nothing shown yet (a --since in the future, say), follow from the newest entry on.
        await followJournal(journal, print, {sinceId: entries.at(-1)?.id ?? (await journal.lastId()), since, intervalMs: flags.interval, signal: stop.signal})
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }

      // Every entry was its own JSON line; there is no document to print after them.
      return undefined
    } finally {
      await journal.close()
    }
  }
}
