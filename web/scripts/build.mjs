// Builds fairtrack.js: web/src/fairtrack.js -> layers/common/fairtrack/assets/fairtrack.js (minified
// IIFE, committed: `sam build` runs no npm), and holds it to the size budget.
//
//   node scripts/build.mjs           build, write the asset, print raw and gzipped sizes
//   node scripts/build.mjs --check   build in memory; fail if the committed asset differs or is over budget
//
// Deterministic: fixed esbuild version (exact pin), fixed options, no timestamps or paths in the output.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const WEB = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE = join(WEB, 'src', 'fairtrack.js');
export const ASSET = join(WEB, '..', 'layers', 'common', 'fairtrack', 'assets', 'fairtrack.js');
export const BUDGET = 3072; // bytes, gzipped (level 9, what HTTP gzip sends at best)

/** The minified snippet, as the gateway serves it. */
export async function build() {
  const source = readFileSync(SOURCE, 'utf8');
  const pkg = JSON.parse(readFileSync(join(WEB, 'package.json'), 'utf8'));
  const version = /var VERSION = '([^']+)'/.exec(source)?.[1];
  if (version !== pkg.version) {
    throw new Error(`src/fairtrack.js VERSION is ${version}, package.json says ${pkg.version}: make them agree`);
  }
  const result = await esbuild.transform(source, {
    loader: 'js',
    minify: true,
    target: 'es2017',
    legalComments: 'none',
    charset: 'utf8',
  });
  return `/*! fairtrack.js ${version} | Apache-2.0 */\n${result.code}`;
}

export const gzipSize = (code) => gzipSync(Buffer.from(code), { level: 9 }).length;

async function main() {
  const check = process.argv.includes('--check');
  const code = await build();
  const raw = Buffer.byteLength(code);
  const gz = gzipSize(code);
  const where = relative(process.cwd(), ASSET);
  console.log(`fairtrack.js: ${raw} bytes, ${gz} bytes gzipped (budget ${BUDGET})`);
  let failed = false;
  if (gz > BUDGET) {
    console.error(`over budget: ${gz} > ${BUDGET} bytes gzipped`);
    failed = true;
  }
  if (check) {
    let committed = null;
    try {
      committed = readFileSync(ASSET, 'utf8');
    } catch {}
    if (committed !== code) {
      console.error(`${where} is not what web/src builds to: run npm --prefix web run build`);
      failed = true;
    }
  } else if (!failed) {
    writeFileSync(ASSET, code);
    console.log(`wrote ${where}`);
  }
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
