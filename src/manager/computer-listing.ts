import {ComputerView, viewComputer} from './computers.js'
import {ConfigurationState, assignedPolicy, configurationStateWith} from './policies.js'
import {getSettings} from './settings.js'
import type {ManagerStore, Policy} from './store/store.js'

/** A computer as `computers list` shows it. */
export type ComputerListing = ComputerView & {configuration: ConfigurationState}

/**
 * Every computer with its presence, certificate life and configuration state, in id order, read a
 * page at a time: a registry of 100,000 computers is listed without being held in memory. Each
 * assigned policy is read once, not once per computer.
 */
export async function* listComputers(store: ManagerStore): AsyncGenerator<ComputerListing> {
  const defaults = await getSettings(store)
  const policies = new Map<string, Policy | undefined>()
  for await (const computer of store.computers.each()) {
    let policy: Policy | undefined
    if (computer.policy) {
      if (!policies.has(computer.policy)) policies.set(computer.policy, await assignedPolicy(store, computer))
      policy = policies.get(computer.policy)
    }

    yield {...viewComputer(computer, defaults), configuration: configurationStateWith(computer, policy)}
  }
}
