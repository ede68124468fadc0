import {AgentCommand} from '../../cli/base-command.js'
import {runInstallService, serviceFlags} from '../../cli/service-command.js'

export default class AgentInstallService extends AgentCommand {
  static summary = 'Run the agent as a service: write its systemd unit (Linux) or print the sc.exe commands (Windows)'
  static description = `Writes tether-agent.service, which runs \`tether agent start\` with the dsa_core, host and port given here, restarts it on failure and confines it (ProtectSystem=strict with only dsa_core writable, NoNewPrivileges, PrivateTmp, UMask=0077). Creates dsa_core if it is missing (owner-only, owned by --user), since the unit cannot start without it. The file is written atomically; a different unit already there is kept unless --force. With --enable, runs systemctl daemon-reload and systemctl enable --now. On Windows (--platform windows), prints the sc.exe commands that create and start the service and runs nothing. --dry-run prints everything and changes nothing.`
  static examples = [
    '<%= config.bin %> agent install-service --host 0.0.0.0 --dry-run',
    'sudo <%= config.bin %> agent install-service --host 0.0.0.0 --enable',
    '<%= config.bin %> agent install-service --platform windows --node "C:\\Program Files\\nodejs\\node.exe" --bin "C:\\Program Files\\tether\\bin\\run.js"',
  ]

  static flags = serviceFlags('agent')

  async run() {
    const {flags} = await this.parse(AgentInstallService)
    return runInstallService('agent', flags, {root: this.config.root, log: (line) => this.log(line)})
  }
}
