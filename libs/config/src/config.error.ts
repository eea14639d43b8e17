/**
 * A configuration problem an operator has to fix. Its message is one line that
 * names the variable or file (and line) and never contains a secret value.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
