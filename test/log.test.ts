import fs from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {LogFormat, LogLevel, REDACTED, createLogger, fileSink, isSecretName, logfmtValue} from '../src/platform/log.js'
import {tempDir} from './helpers.js'

const AT = new Date('2026-12-01T10:00:00.000Z')

function capture(format: LogFormat = 'logfmt', level?: LogLevel) {
  const lines: string[] = []
  const log = createLogger({format, level, now: () => AT, write: (line) => lines.push(line)})
  return {log, lines}
}

describe('log lines', () => {
  it('logfmt: ts, level and event first, then the fields in order; one line each', () => {
    const {log, lines} = capture()
    log.warn('handshake-refused', {peer: '127.0.0.1:5555', reason: 'unknown-ca', port: 4118, activated: true, context: null, absent: undefined})
    expect(lines).toEqual(['ts=2026-12-01T10:00:00.000Z level=warn event=handshake-refused peer=127.0.0.1:5555 reason=unknown-ca port=4118 activated=true context=null\n'])
  })

  it('json: one object per line with the same keys', () => {
    const {log, lines} = capture('json')
    log.info('listening', {host: '127.0.0.1', port: 4118, detail: 'two\nlines'})
    expect(lines).toHaveLength(1)
    expect(lines[0].endsWith('\n')).toBe(true)
    expect(lines[0].slice(0, -1)).not.toContain('\n')
    expect(JSON.parse(lines[0])).toEqual({ts: '2026-12-01T10:00:00.000Z', level: 'info', event: 'listening', host: '127.0.0.1', port: 4118, detail: 'two\nlines'})
  })

  it('logfmt quotes and escapes what would break a line or a key=value split', () => {
    expect(logfmtValue('plain-value_1.2:3/4')).toBe('plain-value_1.2:3/4')
    expect(logfmtValue('本番 サーバー')).toBe('"本番 サーバー"')
    expect(logfmtValue('本番')).toBe('本番')
    expect(logfmtValue('')).toBe('""')
    expect(logfmtValue('a b')).toBe('"a b"')
    expect(logfmtValue('k=v')).toBe('"k=v"')
    expect(logfmtValue('say "hi"')).toBe('"say \\"hi\\""')
    expect(logfmtValue('C:\\dsa_core')).toBe('"C:\\\\dsa_core"')
    expect(logfmtValue('one\ntwo\r\tthree')).toBe('"one\\ntwo\\r\\tthree"')
    expect(logfmtValue('bell\u0007 esc\u001b del\u007f c1\u0085 ls\u2028')).toBe('"bell\\u0007 esc\\u001b del\\u007f c1\\u0085 ls\\u2028"')
    expect(logfmtValue('\u0000')).toBe('"\\u0000"')
  })

  it('a hostile value stays on one line and inside its field', () => {
    const {log, lines} = capture()
    log.warn('command-refused', {detail: 'x\nts=2020-01-01T00:00:00.000Z level=error event=forged', after: 'kept'})
    expect(lines).toHaveLength(1)
    expect(lines[0].match(/\n/g)).toHaveLength(1)
    expect(lines[0]).toBe('ts=2026-12-01T10:00:00.000Z level=warn event=command-refused detail="x\\nts=2020-01-01T00:00:00.000Z level=error event=forged" after=kept\n')
  })

  it('field names cannot forge the line: reserved names are renamed, odd characters replaced', () => {
    const {log, lines} = capture()
    log.info('e', {level: 'error', 'bad name=x': 1})
    expect(lines[0]).toBe('ts=2026-12-01T10:00:00.000Z level=info event=e level_=error bad_name_x=1\n')
  })

  it('drops events below the level; info by default', () => {
    const byDefault = capture()
    byDefault.log.debug('heartbeat-sent')
    byDefault.log.info('listening')
    expect(byDefault.lines.map((l) => l.split(' ')[1])).toEqual(['level=info'])

    const warn = capture('logfmt', 'warn')
    warn.log.debug('a')
    warn.log.info('b')
    warn.log.warn('c')
    warn.log.error('d')
    expect(warn.lines.map((l) => l.trim().split(' ')[2])).toEqual(['event=c', 'event=d'])

    const debug = capture('json', 'debug')
    for (const level of ['debug', 'info', 'warn', 'error'] as const) debug.log[level](level)
    expect(debug.lines.map((l) => JSON.parse(l).level)).toEqual(['debug', 'info', 'warn', 'error'])
  })
})

describe('redaction', () => {
  const secretNames = ['token', 'activationToken', 'ACCESS_TOKEN', 'password', 'dbPassword', 'passphrase', 'secret', 'client-secret', 'key', 'privateKey', 'private_key', 'caKeyPem', 'keys']
  const ordinaryNames = ['peer', 'reason', 'keyboard', 'monkey', 'turkey', 'certificateSha256', 'detail', 'passage', 'tokenizer']

  it('knows secret field names by their words', () => {
    for (const name of secretNames) expect(isSecretName(name), name).toBe(true)
    for (const name of ordinaryNames) expect(isSecretName(name), name).toBe(false)
  })

  it('redacts secret-named fields in both formats, whatever their value', () => {
    for (const format of ['logfmt', 'json'] as const) {
      const {log, lines} = capture(format)
      log.info('activation-request', Object.fromEntries(secretNames.map((name) => [name, `s3cret ${name}`])))
      expect(lines[0], format).not.toContain('s3cret')
      expect(lines[0].split(REDACTED).length - 1, format).toBe(secretNames.length)
    }
  })

  it('redacts PEM private key material under any field name', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n'
    const rsa = pem.replaceAll('PRIVATE KEY', 'RSA PRIVATE KEY')
    for (const format of ['logfmt', 'json'] as const) {
      const {log, lines} = capture(format)
      log.error('oops', {detail: `could not load ${pem}`, other: rsa, certificate: '-----BEGIN CERTIFICATE-----'})
      expect(lines[0], format).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC')
      expect(lines[0], format).not.toContain('PRIVATE KEY')
      expect(lines[0], format).toContain('BEGIN CERTIFICATE')
    }
  })
})

describe('the file sink (the agent daemon keeps its recent lines in dsa_core)', () => {
  it('gets every line the stderr sink gets, owner-only, capped: past the cap the file moves to .1', () => {
    const file = path.join(tempDir(), 'ds_agent.log')
    const stderr: string[] = []
    const log = createLogger({format: 'logfmt', now: () => AT, write: (line) => stderr.push(line), also: [fileSink(file, 400)]})
    for (let i = 0; i < 12; i++) log.info('tick', {n: i, token: 'never-written'})
    const current = fs.readFileSync(file, 'utf8')
    const previous = fs.readFileSync(`${file}.1`, 'utf8')
    expect(fs.statSync(file).size).toBeLessThanOrEqual(400)
    expect(fs.statSync(`${file}.1`).size).toBeLessThanOrEqual(400)
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(stderr.join('').endsWith(previous + current)).toBe(true)
    expect(current).toContain('n=11')
    expect(previous + current).not.toContain('never-written')
  })
})
