// Builds the page into dist/ (or the directory given as the first argument):
//   dist/index.html                    index.html with the two asset URLs filled in
//   dist/assets/app-<hash>.js          src/main.ts and the client, bundled and minified
//   dist/assets/app-<hash>.css         src/style.css, minified
// <hash> is the first 16 hex digits of the SHA-256 of the file's bytes, so a name always means
// the same bytes and the taskboard can serve the assets as immutable. The same inputs give
// byte-identical output (no timestamps, no source maps, no absolute paths), which is what lets
// scripts/check-web.sh compare a fresh build with the committed dist/.
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL(".", import.meta.url));
const out = resolve(process.argv[2] ?? join(root, "dist"));
/** Where the taskboard serves dist/assets (examples/taskboard/src/web.rs). */
const assetsUrl = "/app/assets/";

async function bundle(entry, loader) {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    platform: "browser",
    charset: "utf8",
    legalComments: "eof",
    sourcemap: false,
    write: false,
    outdir: "out",
    logLevel: "warning",
    ...loader,
  });
  if (result.outputFiles.length !== 1) {
    throw new Error(`${entry}: expected one output file, got ${result.outputFiles.length}`);
  }
  return result.outputFiles[0].contents;
}

function hashed(stem, ext, bytes) {
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  return `${stem}-${hash}.${ext}`;
}

const js = await bundle("src/main.ts", {});
const css = await bundle("src/style.css", {});
const jsName = hashed("app", "js", js);
const cssName = hashed("app", "css", css);

const template = await readFile(join(root, "index.html"), "utf8");
for (const placeholder of ["%APP_JS%", "%APP_CSS%"]) {
  if (template.split(placeholder).length !== 2) {
    throw new Error(`index.html must name ${placeholder} exactly once`);
  }
}
const html = template
  .replace("%APP_JS%", assetsUrl + jsName)
  .replace("%APP_CSS%", assetsUrl + cssName);

// Old hashed files go: dist/ holds exactly what this build made.
await rm(out, { recursive: true, force: true });
await mkdir(join(out, "assets"), { recursive: true });
await writeFile(join(out, "index.html"), html);
await writeFile(join(out, "assets", jsName), js);
await writeFile(join(out, "assets", cssName), css);
console.log(`built ${out}: index.html, assets/${jsName} (${js.length} bytes), assets/${cssName} (${css.length} bytes)`);
