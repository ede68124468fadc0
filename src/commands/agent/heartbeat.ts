import {replyError, runControl} from '../../agent/control.js'
import {AgentCommand} from '../../cli/base-command.js'

export default class AgentHeartbeat extends AgentCommand {
  static summary = 'Send a heartbeat to the manager now (same as dsa_control -m)'
  static description = 'Through the running agent if there is one, else from this process. The manager reads the agent status and runs the operations queued for it.'
  static examples = ['<%= config.bin %> agent heartbeat', 'dsa_control -m']

  async run() {
    await this.parse(AgentHeartbeat)
    const reply = await runControl(this.dsaCore.dir, {op: 'heartbeat'})
    const failure = replyError(reply)
    if (failure) throw failure
    const heartbeat = reply.ok ? reply.heartbeat! : undefined
    this.log(`Heartbeat sent to ${heartbeat?.address}`)
    return heartbeat
  }
}
