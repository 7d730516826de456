// Drives the page in headless Chromium, through the edge (scripts/e2e/web.sh starts the app
// behind Varnish and runs this with `npm run test:browser`). Tenant A signs in, creates a
// project and a task and sees them, also after a reload; tenant B, in the same tab after A
// signs out, does not see A's project and its own list works (markup in a name stays text).
// The page's assets arrive immutable, and from the edge's cache for the next visitor; no
// console error, no failed request, no dialog. Prints one PASS/FAIL line per check and exits
// non-zero when one failed.
//
// Environment:
//   WEB_EDGE_URL      the edge in front of the app (required)
//   WEB_ADMIN_TOKEN   the app's admin token (required)
//   WEB_CHROMIUM      the browser (default /usr/bin/chromium)
//   WEB_SCREENSHOT    where to write the screenshot of A's board (default: none taken)
//   WEB_ARTIFACTS     where to leave a screenshot of the page when the run stops early
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const edge = required("WEB_EDGE_URL").replace(/\/$/, "");
const adminToken = required("WEB_ADMIN_TOKEN");
const executablePath = process.env.WEB_CHROMIUM || "/usr/bin/chromium";
const screenshotPath = process.env.WEB_SCREENSHOT || "";
const artifacts = process.env.WEB_ARTIFACTS || "";
const viewport = { width: 1100, height: 700 };
const IMMUTABLE = "public, max-age=31536000, immutable";
const ASSET = /\/app\/assets\/app-[0-9a-f]{16}\.(js|css)$/;

let failures = 0;
function pass(what) {
  console.log(`PASS: ${what}`);
}
function fail(what, detail) {
  failures += 1;
  console.log(`FAIL: ${what}${detail ? ` (${detail})` : ""}`);
}
function check(what, ok, detail) {
  if (ok) pass(what);
  else fail(what, detail);
  return ok;
}
/** A step the rest depends on: a failure stops the run. */
async function step(what, action) {
  try {
    const result = await action();
    pass(what);
    return result;
  } catch (error) {
    fail(what, error instanceof Error ? error.message.split("\n")[0] : String(error));
    throw new Stop(what);
  }
}
class Stop extends Error {}

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

async function admin(method, path, body) {
  const response = await fetch(edge + path, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) {
    throw new Error(`${method} ${path}: ${response.status} ${text}`);
  }
  return JSON.parse(text);
}

/** A tenant registered through the admin API, and a token of it. */
async function tenant(prefix) {
  const slug = `${prefix}-${randomBytes(4).toString("hex")}`;
  const created = await admin("POST", "/admin/tenants", { slug, name: slug, tier: "shared" });
  const { token } = await admin("POST", `/admin/tenants/${created.id}/tokens`, {
    subject: "browser",
    ttl_seconds: 3600,
  });
  return { slug, token };
}

/** Records what a page does that a user would see as broken. */
function watch(page) {
  const log = { console: [], errors: [], failed: [], dialogs: [], responses: [] };
  page.on("console", (message) => {
    if (message.type() === "error") log.console.push(message.text());
  });
  page.on("pageerror", (error) => log.errors.push(String(error)));
  page.on("requestfailed", (request) =>
    log.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
  );
  page.on("response", (response) => {
    log.responses.push(response);
    if (response.status() >= 400) {
      log.failed.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  page.on("dialog", (dialog) => {
    log.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return log;
}

async function newPage(browser) {
  const context = await browser.newContext({ viewport, locale: "en-US", timezoneId: "UTC" });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { context, page, log: watch(page) };
}

/** The page's own responses (`/app/` and its assets) of one load, with their headers. */
async function loadedFiles(log, from) {
  const files = [];
  for (const response of log.responses.slice(from)) {
    const path = new URL(response.url()).pathname;
    if (path === "/app/" || ASSET.test(path)) {
      files.push({ path, status: response.status(), headers: await response.allHeaders() });
    }
  }
  return files;
}

async function signIn(page, token) {
  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#board").waitFor({ state: "visible" });
}

async function bodyText(page) {
  return page.locator("body").innerText();
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let current = null;
try {
  const [a, b] = await step("tenants A and B registered through the admin API", () =>
    Promise.all([tenant("web-a"), tenant("web-b")]),
  );
  const suffix = randomBytes(3).toString("hex");
  const projectName = `Launch plan ${suffix}`;
  const taskTitle = `Write the release notes ${suffix}`;

  // --- Tenant A ---------------------------------------------------------------------------
  const first = await newPage(browser);
  current = first.page;
  const { page, log } = first;
  await step(`${edge}/app/ shows the sign-in form`, async () => {
    await page.goto(`${edge}/app/`);
    await page.locator("#sign-in").waitFor({ state: "visible" });
  });
  const firstLoad = await loadedFiles(log, 0);
  await step("A signs in with its token", () => signIn(page, a.token));
  check("A's project list starts empty", await page.locator("#projects-empty").isVisible());

  await step(`A creates the project "${projectName}" and sees it listed`, async () => {
    await page.locator("#project-name").fill(projectName);
    await page.getByRole("button", { name: "Create project" }).click();
    await page.locator("#projects li", { hasText: projectName }).waitFor();
    await page.getByRole("heading", { name: `Tasks of ${projectName}` }).waitFor();
  });
  await step(`A adds the task "${taskTitle}" (doing) to it and sees it`, async () => {
    await page.locator("#task-title").fill(taskTitle);
    await page.locator("#task-status").selectOption("doing");
    await page.getByRole("button", { name: "Add task" }).click();
    const row = page.locator("#tasks li", { hasText: taskTitle });
    await row.waitFor();
    const status = await row.locator(".status").innerText();
    if (status !== "Doing") throw new Error(`status shown: ${status}`);
  });

  // A reload keeps the session (the token is in sessionStorage) and shows what the API has.
  // The list of projects is cached at the edge and purged by the write's event, which the
  // outbox relay delivers shortly after the write: reload until it has landed (10 s at most).
  const reloaded = await step("after a reload, A is still signed in and the project is listed", async () => {
    const started = Date.now();
    for (;;) {
      await page.reload();
      await page.locator("#board").waitFor({ state: "visible" });
      const listed = await page.locator("#projects li", { hasText: projectName }).count();
      if (listed === 1) return (Date.now() - started) / 1000;
      if (Date.now() - started > 10_000) throw new Error(`${listed} rows named ${projectName}`);
      await page.waitForTimeout(250);
    }
  });
  console.log(`  (listed ${reloaded.toFixed(1)} s after the first reload)`);
  await step("after the reload, selecting the project shows its task", async () => {
    await page.locator("#projects li", { hasText: projectName }).getByRole("button").click();
    await page.locator("#tasks li", { hasText: taskTitle }).waitFor();
  });
  if (screenshotPath) {
    await page.locator("#message").waitFor({ state: "hidden" });
    await page.screenshot({ path: screenshotPath });
    pass(`screenshot of A's board written (${viewport.width}x${viewport.height})`);
  }

  await step("A signs out: the sign-in form again, the token gone from the tab", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#sign-in").waitFor({ state: "visible" });
    const kept = await page.evaluate(() => sessionStorage.length);
    if (kept !== 0) throw new Error(`${kept} item(s) left in sessionStorage`);
    if ((await page.locator("#token").inputValue()) !== "") throw new Error("the token field is not empty");
    if (await page.locator("#board").isVisible()) throw new Error("the board is still shown");
  });

  // --- Tenant B, in the same tab ----------------------------------------------------------
  await step("B signs in with its token in the same tab", () => signIn(page, b.token));
  check("B's list is empty: A's project is not listed", await page.locator("#projects-empty").isVisible());
  check("nothing of A's shows on B's board", !(await bodyText(page)).includes(suffix));
  const hostile = `<img src=x onerror=alert(1)> B's board ${suffix}b`;
  await step("B creates a project whose name is markup, listed as text", async () => {
    await page.locator("#project-name").fill(hostile);
    await page.getByRole("button", { name: "Create project" }).click();
    await page.locator("#projects li .name", { hasText: hostile }).waitFor();
  });
  check("the markup in B's project name made no element", (await page.locator("#projects img, #tasks-heading img").count()) === 0);
  const bList = await page.locator("#projects li").allInnerTexts();
  check(
    "B's list holds its own project only",
    bList.length === 1 && !bList.some((row) => row.includes(projectName)),
    JSON.stringify(bList),
  );
  await page.reload();
  await page.locator("#projects li .name", { hasText: hostile }).waitFor();
  check("B's project is listed after a reload, A's is not", !(await bodyText(page)).includes(projectName));

  // --- What the browser got --------------------------------------------------------------
  const index = firstLoad.find((file) => file.path === "/app/");
  const assets = firstLoad.filter((file) => ASSET.test(file.path));
  check(
    "/app/ came through the edge, no-cache with an ETag",
    index?.status === 200 &&
      index.headers["cache-control"] === "no-cache" &&
      /^"[^"]+"$/.test(index.headers.etag ?? "") &&
      "x-edge-cache" in index.headers,
    JSON.stringify(index?.headers),
  );
  check(
    "the page loaded a hashed script and a hashed stylesheet",
    assets.some((f) => f.path.endsWith(".js")) && assets.some((f) => f.path.endsWith(".css")),
    assets.map((f) => f.path).join(", "),
  );
  for (const asset of assets) {
    check(
      `${asset.path}: 200, ${IMMUTABLE}, through the edge`,
      asset.status === 200 && asset.headers["cache-control"] === IMMUTABLE && "x-edge-cache" in asset.headers,
      JSON.stringify(asset.headers),
    );
  }
  check("no console error", log.console.length === 0, log.console.join(" | "));
  check("no uncaught exception", log.errors.length === 0, log.errors.join(" | "));
  check("no failed request", log.failed.length === 0, log.failed.join(" | "));
  check("no dialog opened", log.dialogs.length === 0, log.dialogs.join(" | "));
  await first.context.close();

  // --- The next visitor: a fresh browser, the assets from the edge's cache ----------------
  const second = await newPage(browser);
  current = second.page;
  await step("a second visitor (empty browser cache) loads /app/", async () => {
    await second.page.goto(`${edge}/app/`);
    await second.page.locator("#sign-in").waitFor({ state: "visible" });
  });
  const secondAssets = (await loadedFiles(second.log, 0)).filter((file) => ASSET.test(file.path));
  check(
    "the second load's assets are the same hashed files",
    secondAssets.map((f) => f.path).sort().join() === assets.map((f) => f.path).sort().join(),
    secondAssets.map((f) => f.path).join(", "),
  );
  for (const asset of secondAssets) {
    check(
      `${asset.path}: served by the edge on the second load (X-Edge-Cache: HIT), still immutable`,
      asset.status === 200 && asset.headers["x-edge-cache"] === "HIT" && asset.headers["cache-control"] === IMMUTABLE,
      JSON.stringify(asset.headers),
    );
  }
  await step("a refused token keeps the sign-in form and shows the problem's detail", async () => {
    await signInExpectingRefusal(second.page, "not-a-token");
  });
  const unexpected = second.log.failed.filter((line) => !/^GET .*\/v2\/projects\?limit=50: 401$/.test(line));
  check("the refused sign-in made exactly one failed request, the 401", second.log.failed.length === 1 && unexpected.length === 0, second.log.failed.join(" | "));
  check("no uncaught exception on the second load", second.log.errors.length === 0, second.log.errors.join(" | "));
  await second.context.close();
  current = null;
} catch (error) {
  if (!(error instanceof Stop)) fail("the browser test ran to the end", String(error?.stack ?? error));
  if (current && artifacts) {
    const path = `${artifacts}/web-failure.png`;
    await current.screenshot({ path }).then(
      () => console.log(`  (the page when it stopped: ${path})`),
      () => {},
    );
  }
} finally {
  await browser.close();
}

async function signInExpectingRefusal(page, token) {
  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  const message = page.locator("#message");
  await message.waitFor({ state: "visible" });
  const text = await message.innerText();
  if (!/^The token was refused: (?!the server answered).+/.test(text)) throw new Error(`message: ${text}`);
  if (!(await page.locator("#sign-in").isVisible())) throw new Error("the sign-in form is gone");
  if (await page.locator("#board").isVisible()) throw new Error("the board is shown");
}

process.exit(failures === 0 ? 0 : 1);
