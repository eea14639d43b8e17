// Stryker's TypeScript checker ('typescript'), without TypeScript's 250 ms wait.
//
// The checker hands each mutant to TypeScript's watch-mode builder as a file
// change. The builder waits 250 ms after a change before it builds again, to
// gather an editor's keystrokes; here every change is one Stryker made and then
// waits on, so each mutant checked cost 250 ms of idle time beside its compile.
// Calling back at once keeps every change of one check in one build: the check
// makes all its changes in one go, before any timer can fire.
import ts from 'typescript';
import { declareFactoryPlugin, PluginKind } from '@stryker-mutator/api/plugin';
import { createTypescriptChecker } from '@stryker-mutator/typescript-checker';

function createUndelayedTypescriptChecker(injector) {
  const setTimeoutAsAsked = ts.sys.setTimeout;
  // the checker's host copies ts.sys when it starts: set before that
  ts.sys.setTimeout = (callback, _ms, ...args) => setTimeoutAsAsked(callback, 0, ...args);
  return createTypescriptChecker(injector);
}
createUndelayedTypescriptChecker.inject = createTypescriptChecker.inject;

export const strykerPlugins = [declareFactoryPlugin(PluginKind.Checker, 'typescript-undelayed', createUndelayedTypescriptChecker)];
