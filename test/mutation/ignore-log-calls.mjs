// A Stryker ignorer: mutants inside a log call (`this.logger.log(…)`, `.warn`,
// `.error`, `.debug`, `.verbose`) are not tested. A log line's wording is for
// operators, not a rule of the contract, and each such mutant would cost a run
// of the module's tests. Ignored mutants are listed in the report, not scored.
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

const LEVELS = new Set(['log', 'warn', 'error', 'debug', 'verbose', 'fatal']);

function isLogCall(node) {
  if (node.type !== 'CallExpression' || node.callee.type !== 'MemberExpression') return false;
  const { object, property } = node.callee;
  if (property.type !== 'Identifier' || !LEVELS.has(property.name)) return false;
  // this.logger.x(…) or logger.x(…)
  const owner = object.type === 'MemberExpression' ? object.property : object;
  return owner.type === 'Identifier' && owner.name === 'logger';
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'log-calls', {
    shouldIgnore(path) {
      if (isLogCall(path.node)) return 'a log line: its wording is not a rule';
      return undefined;
    },
  }),
];
