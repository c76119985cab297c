#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so the CLI works straight from a checkout.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
