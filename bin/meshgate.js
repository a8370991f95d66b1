#!/usr/bin/env node
// The meshgate command: the compiled CLI lives in dist/ (npm ci / npm run build).
import { main } from '../dist/shared/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
