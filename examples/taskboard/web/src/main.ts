// The taskboard's page: sign in with a tenant token, list and create projects, list and create
// the tasks of one. Every API call goes through the client generated from openapi/v2.json
// (`paths`, `components`), so `tsc --noEmit` fails when the page and the document disagree.
// Everything the API returns is rendered with textContent and DOM nodes, never as markup.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

type Project = components["schemas"]["ProjectBody"];
type Task = components["schemas"]["TaskBody"];
type Status = components["schemas"]["Status"];
type Problem = components["schemas"]["Problem"];

/** Where the token lives: this tab only, gone when it closes. */
const TOKEN_KEY = "taskboard.token";
const PAGE_SIZE = 50;

/** One label per status of the document: a status added or removed there fails `tsc`. */
const STATUS_LABELS: Record<Status, string> = {
  todo: "To do",
  doing: "Doing",
  done: "Done",
};

const client = createClient<paths>({ baseUrl: location.origin });

let token: string | null = sessionStorage.getItem(TOKEN_KEY);

const bearer: Middleware = {
  onRequest({ request }) {
    if (token !== null) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
};
client.use(bearer);

function element<T extends HTMLElement>(id: string, kind: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof kind)) {
    throw new Error(`the page has no #${id} of the expected kind`);
  }
  return found;
}

const ui = {
  session: element("session", HTMLElement),
  signOut: element("sign-out", HTMLButtonElement),
  message: element("message", HTMLElement),
  signIn: element("sign-in", HTMLElement),
  signInForm: element("sign-in-form", HTMLFormElement),
  token: element("token", HTMLInputElement),
  board: element("board", HTMLElement),
  projectForm: element("project-form", HTMLFormElement),
  projectName: element("project-name", HTMLInputElement),
  projects: element("projects", HTMLUListElement),
  projectsEmpty: element("projects-empty", HTMLElement),
  projectsMore: element("projects-more", HTMLButtonElement),
  tasksHeading: element("tasks-heading", HTMLElement),
  tasksHint: element("tasks-hint", HTMLElement),
  taskForm: element("task-form", HTMLFormElement),
  taskTitle: element("task-title", HTMLInputElement),
  taskStatus: element("task-status", HTMLSelectElement),
  tasks: element("tasks", HTMLUListElement),
  tasksEmpty: element("tasks-empty", HTMLElement),
  tasksMore: element("tasks-more", HTMLButtonElement),
};

interface State {
  projects: Project[];
  projectsCursor: string | null;
  selected: Project | null;
  tasks: Task[];
  tasksCursor: string | null;
}

const state: State = {
  projects: [],
  projectsCursor: null,
  selected: null,
  tasks: [],
  tasksCursor: null,
};

// Answers that arrive after the user moved on (signed out, picked another project) are
// dropped: each sign-in and each selection starts a new generation.
let session = 0;
let selection = 0;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function when(iso: string): HTMLTimeElement {
  const time = document.createElement("time");
  time.className = "when";
  time.dateTime = iso;
  const date = new Date(iso);
  time.textContent = Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
  return time;
}

function showMessage(text: string | null): void {
  ui.message.textContent = text ?? "";
  ui.message.hidden = text === null;
}

/**
 * What went wrong, for the user: the problem document's `detail` when the answer is one (every
 * error of the API is), else the HTTP status.
 */
function describe(problem: Problem | undefined, response: Response): string {
  if (typeof problem === "object" && problem !== null && typeof problem.detail === "string") {
    return problem.detail;
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

/** Handles a failed call: a 401 ends the session (back to sign-in), anything else is shown. */
function failed(problem: Problem | undefined, response: Response): void {
  const detail = describe(problem, response);
  if (response.status === 401) {
    signOut(`The token was refused: ${detail}`);
  } else {
    showMessage(detail);
  }
}

/** Runs `work` with `controls` disabled; a network failure is shown, not thrown. */
async function busy(controls: HTMLElement[], work: () => Promise<void>): Promise<void> {
  const buttons = controls.flatMap((control) =>
    control instanceof HTMLButtonElement ? [control] : [...control.querySelectorAll("button")],
  );
  for (const button of buttons) button.disabled = true;
  try {
    await work();
  } catch (error) {
    showMessage(`The request failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

function renderProjects(): void {
  const rows = state.projects.map((project) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "project";
    button.dataset["id"] = project.id;
    button.setAttribute("aria-pressed", String(state.selected?.id === project.id));
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = project.name;
    button.append(name, when(project.created_at));
    button.addEventListener("click", () => void select(project));
    item.append(button);
    return item;
  });
  ui.projects.replaceChildren(...rows);
  ui.projectsEmpty.hidden = state.projects.length > 0;
  ui.projectsMore.hidden = state.projectsCursor === null;
}

function renderTasks(): void {
  const project = state.selected;
  ui.tasksHeading.textContent = project === null ? "Tasks" : `Tasks of ${project.name}`;
  ui.tasksHint.hidden = project !== null;
  ui.taskForm.hidden = project === null;
  const rows = state.tasks.map((task) => {
    const item = document.createElement("li");
    item.className = "task";
    item.dataset["id"] = task.id;
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = task.title;
    const status = document.createElement("span");
    status.className = `status status-${task.status}`;
    status.textContent = STATUS_LABELS[task.status];
    item.append(title, status);
    return item;
  });
  ui.tasks.replaceChildren(...rows);
  ui.tasksEmpty.hidden = project === null || state.tasks.length > 0;
  ui.tasksMore.hidden = project === null || state.tasksCursor === null;
}

/** Adds `items` after what is listed, skipping ids already there. */
function merge<T extends { id: string }>(listed: T[], items: T[]): T[] {
  const known = new Set(listed.map((item) => item.id));
  return [...listed, ...items.filter((item) => !known.has(item.id))];
}

/** Loads a page of projects: the first (replacing the list) or the next one. */
async function loadProjects(next: boolean): Promise<boolean> {
  const mine = session;
  const cursor = next ? state.projectsCursor : null;
  const { data, error, response } = await client.GET("/v2/projects", {
    params: { query: cursor === null ? { limit: PAGE_SIZE } : { limit: PAGE_SIZE, cursor } },
  });
  if (mine !== session) return false;
  if (data === undefined) {
    failed(error, response);
    return false;
  }
  state.projects = next ? merge(state.projects, data.items) : data.items;
  state.projectsCursor = data.next_cursor ?? null;
  if (state.selected !== null && !state.projects.some((p) => p.id === state.selected?.id)) {
    state.selected = null;
    state.tasks = [];
    state.tasksCursor = null;
    renderTasks();
  }
  renderProjects();
  return true;
}

/** Loads a page of the selected project's tasks: the first or the next one. */
async function loadTasks(next: boolean): Promise<void> {
  const project = state.selected;
  if (project === null) return;
  const mine = selection;
  const cursor = next ? state.tasksCursor : null;
  const { data, error, response } = await client.GET("/v2/projects/{id}/tasks", {
    params: {
      path: { id: project.id },
      query: cursor === null ? { limit: PAGE_SIZE } : { limit: PAGE_SIZE, cursor },
    },
  });
  if (mine !== selection) return;
  if (data === undefined) {
    failed(error, response);
    if (response.status === 404) {
      // Deleted since it was listed: the list is out of date.
      await loadProjects(false);
    }
    return;
  }
  state.tasks = next ? merge(state.tasks, data.items) : data.items;
  state.tasksCursor = data.next_cursor ?? null;
  renderTasks();
}

async function select(project: Project): Promise<void> {
  selection += 1;
  state.selected = project;
  state.tasks = [];
  state.tasksCursor = null;
  showMessage(null);
  renderProjects();
  renderTasks();
  await busy([ui.taskForm, ui.tasksMore], () => loadTasks(false));
}

function showBoard(signedIn: boolean): void {
  ui.signIn.hidden = signedIn;
  ui.board.hidden = !signedIn;
  ui.session.hidden = !signedIn;
}

function signOut(message: string | null): void {
  session += 1;
  selection += 1;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  state.projects = [];
  state.projectsCursor = null;
  state.selected = null;
  state.tasks = [];
  state.tasksCursor = null;
  renderProjects();
  renderTasks();
  ui.token.value = "";
  showBoard(false);
  showMessage(message);
  ui.token.focus();
}

/** Starts a session with `candidate`: kept only when the API accepts it. */
async function signIn(candidate: string): Promise<void> {
  session += 1;
  token = candidate;
  showMessage(null);
  let accepted = false;
  try {
    accepted = await loadProjects(false);
  } finally {
    if (accepted) {
      sessionStorage.setItem(TOKEN_KEY, candidate);
      ui.token.value = "";
      showBoard(true);
      ui.projectName.focus();
    } else if (token === candidate) {
      token = null;
    }
  }
}

ui.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const candidate = ui.token.value.trim();
  if (candidate === "") {
    showMessage("Paste a tenant token to sign in.");
    return;
  }
  void busy([ui.signInForm], () => signIn(candidate));
});

ui.signOut.addEventListener("click", () => signOut(null));

ui.projectForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const mine = session;
  void busy([ui.projectForm], async () => {
    const { data, error, response } = await client.POST("/v2/projects", {
      body: { name: ui.projectName.value },
    });
    if (mine !== session) return;
    if (data === undefined) {
      failed(error, response);
      return;
    }
    ui.projectName.value = "";
    showMessage(null);
    state.projects = merge(state.projects, [data]);
    renderProjects();
    await select(data);
  });
});

ui.taskForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const project = state.selected;
  if (project === null) return;
  const mine = selection;
  const status = ui.taskStatus.value;
  void busy([ui.taskForm], async () => {
    const { data, error, response } = await client.POST("/v2/projects/{id}/tasks", {
      params: { path: { id: project.id } },
      body: isStatus(status) ? { title: ui.taskTitle.value, status } : { title: ui.taskTitle.value },
    });
    if (mine !== selection) return;
    if (data === undefined) {
      failed(error, response);
      return;
    }
    ui.taskTitle.value = "";
    showMessage(null);
    state.tasks = merge(state.tasks, [data]);
    renderTasks();
  });
});

ui.projectsMore.addEventListener("click", () => {
  void busy([ui.projectsMore], async () => {
    await loadProjects(true);
  });
});

ui.tasksMore.addEventListener("click", () => {
  void busy([ui.tasksMore], () => loadTasks(true));
});

function isStatus(value: string): value is Status {
  return Object.hasOwn(STATUS_LABELS, value);
}

for (const [value, label] of Object.entries(STATUS_LABELS)) {
  ui.taskStatus.append(new Option(label, value));
}

// A token kept by this tab (a reload) resumes the session (a 401 ends it); otherwise, sign in.
showBoard(token !== null);
if (token !== null) {
  void busy([ui.projectForm], async () => {
    await loadProjects(false);
  });
}
