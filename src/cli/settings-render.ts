import type {SettingView} from '../manager/settings.js'

/** One line per setting: name, value, and the classic key and value where there is one. */
export function settingLine(s: SettingView): string {
  const classic = s.classicKey ? `   [${s.classicKey} = ${s.classicValue ?? '(set)'}]` : ''
  if (s.noEffect) return `${s.name}${s.computer ? ` (computer ${s.computer})` : ''} = ${s.value === '' ? '""' : String(s.value)}   [stored; no effect: ${s.noEffect}]`
  return `${s.name} = ${s.value === '' ? '""' : String(s.value)}${s.isDefault ? ' (default)' : ''}${classic}`
}
