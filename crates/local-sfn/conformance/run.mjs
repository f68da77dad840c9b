// Runs every conformance case on aws-local-stepfunctions, a second and independent ASL engine,
// so the Rust test can compare local-sfn against it. Mocked task results use the same
// invocation-range format as local-sfn's MockConfigFile support; Waits and retry intervals are
// overridden to zero because only outcomes, not timing, are compared.
//
// Usage: node run.mjs <tools-dir> <cases-dir>   → prints {"<case>": {status, output, error,
// cause, statesPath}} as JSON on stdout.

import { readdirSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, casesDir] = process.argv.slice(2);
if (!toolsDir || !casesDir) {
  console.error('usage: node run.mjs <tools-dir> <cases-dir>');
  process.exit(2);
}

const engineEntry = join(toolsDir, 'node_modules', 'aws-local-stepfunctions', 'build', 'main.node.esm.js');
const { StateMachine } = await import(pathToFileURL(engineEntry).href);

/** Every state (at any depth) of a definition, with its object. */
function allStates(definition) {
  const found = [];
  const visit = (machine) => {
    for (const [name, state] of Object.entries(machine.States ?? {})) {
      found.push([name, state]);
      if (state.ItemProcessor) visit(state.ItemProcessor);
      if (state.Iterator) visit(state.Iterator);
      for (const branch of state.Branches ?? []) visit(branch);
    }
  };
  visit(definition);
  return found;
}

/** Picks the outcome for the n-th invocation from {"0": …, "1-2": …}. */
function outcomeFor(response, invocation) {
  for (const [key, outcome] of Object.entries(response)) {
    const [from, to] = key.includes('-') ? key.split('-').map(Number) : [Number(key), Number(key)];
    if (invocation >= from && invocation <= to) return outcome;
  }
  return undefined;
}

function handlersFor(mocks) {
  const handlers = {};
  for (const [stateName, response] of Object.entries(mocks ?? {})) {
    let invocation = 0;
    handlers[stateName] = async () => {
      const outcome = outcomeFor(response, invocation++);
      if (!outcome) {
        const error = new Error(`no mocked response for invocation ${invocation - 1} of ${stateName}`);
        error.name = 'LocalSfn.MockExhausted';
        throw error;
      }
      if ('Throw' in outcome) {
        const error = new Error(outcome.Throw.Cause ?? '');
        error.name = outcome.Throw.Error;
        throw error;
      }
      return outcome.Return;
    };
  }
  return handlers;
}

async function runCase(testCase) {
  const states = allStates(testCase.definition);
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  for (const [name, state] of states) {
    if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
    if (state.Retry) retryIntervalOverrides[name] = 0;
  }
  const machine = new StateMachine(testCase.definition, {
    validationOptions: { checkArn: false, checkPaths: false },
  });
  const execution = machine.run(testCase.input ?? {}, {
    overrides: { taskResourceLocalHandlers: handlersFor(testCase.mocks), waitTimeOverrides, retryIntervalOverrides },
  });
  const statesPath = [];
  let depth = 0;
  let failedEvent;
  for await (const event of execution.eventLogs) {
    switch (event.type) {
      case 'MapIterationStarted':
      case 'ParallelBranchStarted':
        depth += 1;
        break;
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
      case 'ParallelBranchSucceeded':
      case 'ParallelBranchFailed':
        depth -= 1;
        break;
      case 'StateEntered':
        if (depth === 0) statesPath.push(event.state.name);
        break;
      case 'ExecutionFailed':
        failedEvent = event;
        break;
      default:
        break;
    }
  }
  try {
    const output = await execution.result;
    return { status: 'SUCCEEDED', output, error: null, cause: null, statesPath };
  } catch (thrown) {
    if (thrown?.name === 'ExecutionTimeoutError') {
      return { status: 'TIMED_OUT', output: null, error: 'States.Timeout', cause: null, statesPath };
    }
    const inner = thrown?.cause;
    const error = failedEvent?.Error ?? inner?.name ?? thrown?.name ?? null;
    const rawCause = failedEvent?.Cause ?? inner?.message ?? null;
    const cause = rawCause === null || typeof rawCause === 'string' ? rawCause : JSON.stringify(rawCause);
    return { status: 'FAILED', output: null, error, cause, statesPath };
  }
}

const results = {};
for (const file of readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort()) {
  const name = basename(file, '.json');
  try {
    const testCase = JSON.parse(readFileSync(join(casesDir, file), 'utf8'));
    results[name] = await runCase(testCase);
  } catch (problem) {
    results[name] = { runnerError: String(problem?.stack ?? problem) };
  }
}
process.stdout.write(JSON.stringify(results));
