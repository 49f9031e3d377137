#!/usr/bin/env node
// The CLI runs from TypeScript source: Node >= 22.19 strips the types.
import "../src/main.ts"
