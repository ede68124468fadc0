import {ManagerCommand} from '../../cli/base-command.js'
import {runInstallService, serviceFlags} from '../../cli/service-command.js'

export default class ManagerInstallService extends ManagerCommand {
  static summary = 'Run the manager as a service: write its systemd unit (Linux) or print the sc.exe commands (Windows)'
  static description = `Writes tether-manager.service, which runs \`tether manager start\` with the home, host and port given here, restarts it on failure and confines it (ProtectSystem=strict with only the home writable, NoNewPrivileges, PrivateTmp, UMask=0077). The home must be initialized (\`tether manager init\`) before the service starts; --enable refuses an uninitialized home. The file is written atomically; a different unit already there is kept unless --force. With --enable, runs systemctl daemon-reload and systemctl enable --now. On Windows (--platform windows), prints the sc.exe commands that create and start the service and runs nothing. --dry-run prints everything and changes nothing.`
  static examples = [
    '<%= config.bin %> manager install-service --home /var/lib/tether/manager --host 0.0.0.0 --dry-run',
    'sudo <%= config.bin %> manager install-service --home /var/lib/tether/manager --host 0.0.0.0 --enable',
    '<%= config.bin %> manager install-service --platform windows --home "C:\\ProgramData\\tether\\manager" --node "C:\\Program Files\\nodejs\\node.exe" --bin "C:\\Program Files\\tether\\bin\\run.js"',
  ]

  static flags = serviceFlags('manager')

  async run() {
    const {flags} = await this.parse(ManagerInstallService)
    return runInstallService('manager', flags, {root: this.config.root, log: (line) => this.log(line)})
  }
}
