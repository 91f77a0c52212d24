// The chat page: asks POST /chat with stream: true, renders the draft as it arrives, then the
// verified answer with its [n] markers as buttons that open the cited span in its document.
// Text from the server is only ever set with textContent: a document cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "assistant-api-key";
const MARKER = /\[(\d+)\]/g;
const history = [];        // {role, content} sent with each question, for follow-ups
const documentCache = new Map();
const titles = new Map();  // document id -> its title, from the documents list

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) h.Authorization = `Bearer ${key}`;
  // Says "this server's own page": without keys, the server takes changes only from it.
  h["X-Assistant-Page"] = "1";
  return h;
}

async function api(path, options = {}) {
  const base = headers();
  // A form's multipart Content-Type (with its boundary) is the browser's to write.
  if (options.body instanceof FormData) delete base["Content-Type"];
  const response = await fetch(path, { ...options, headers: { ...base, ...(options.headers || {}) } });
  if (response.status === 401) {
    $("key-row").hidden = false;
    throw new Error("This server needs an API key: enter it above and ask again.");
  }
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

function setStatus(text) { $("status").textContent = text; }

function addTurn(role) {
  const item = document.createElement("li");
  item.className = `turn ${role}`;
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  item.append(who, body);
  $("conversation").append(item);
  $("examples-box").hidden = true;
  item.scrollIntoView({ block: "end" });
  return item;
}

// Events of one SSE stream, as they arrive: {event, data}.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield { event: name, data: JSON.parse(data) };
    }
  }
}

function markerButton(n, citation) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "marker";
  button.textContent = `[${n}]`;
  if (citation) {
    const where = citation.page ? `${citation.source}, page ${citation.page}` : citation.source;
    button.title = `“${citation.text}” (${where})`;
    button.setAttribute("aria-label", `Citation ${n}: open ${where} at the quoted passage`);
    button.addEventListener("click", () => showCitation(citation));
  }
  return button;
}

// Answer text with each [n] a button and each unsupported sentence underlined.
function renderAnswer(container, answer) {
  container.replaceChildren();
  const short = answer.short_answer;
  // The citation holding the short answer carries it, so its viewer shows the answer in bold.
  const byNumber = new Map(answer.citations.map((c) => [c.n, short && short.n === c.n ? { ...c, short } : c]));
  const flagged = (answer.unsupported_text || []).filter((s) => s && answer.answer.includes(s));
  const text = answer.answer;
  // Ranges of unsupported sentences, to wrap while walking the text.
  const ranges = flagged.map((s) => [text.indexOf(s), text.indexOf(s) + s.length]);
  let wrapper = null;
  let position = 0;
  const parent = () => wrapper || container;
  const appendText = (from, to) => {
    for (let i = from; i < to;) {
      const range = ranges.find(([s, e]) => i >= s && i < e);
      const nextStart = Math.min(to, ...ranges.map(([s]) => s).filter((s) => s > i));
      const stop = range ? Math.min(to, range[1]) : nextStart;
      if (range && !wrapper) {
        wrapper = document.createElement("span");
        wrapper.className = "unsupported";
        wrapper.title = "Not backed by the cited sources";
        container.append(wrapper);
      }
      parent().append(document.createTextNode(text.slice(i, stop)));
      if (!range || stop >= range[1]) wrapper = null;
      i = stop;
    }
  };
  if (short && text.startsWith(short.text)) {
    const strong = document.createElement("strong");
    strong.className = "short-answer";
    strong.textContent = short.text;
    container.append(strong);
    position = short.text.length;
  }
  for (const match of text.matchAll(MARKER)) {
    appendText(position, match.index);
    parent().append(markerButton(Number(match[1]), byNumber.get(Number(match[1]))));
    position = match.index + match[0].length;
  }
  appendText(position, text.length);
}

function finishTurn(item, answer) {
  const body = item.querySelector(".body");
  renderAnswer(body, answer);
  if (answer.abstained) {
    item.classList.add("abstained");
    item.querySelector(".who").textContent = "Assistant: not in the sources";
    if (answer.reason) {
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = answer.reason;
      item.append(reason);
    }
  }
  const unplaced = (answer.unsupported_text || []).filter((s) => s && !answer.answer.includes(s));
  if ((answer.unsupported || []).length) {
    const note = document.createElement("p");
    note.className = "unsupported-note";
    note.textContent = `${answer.unsupported.length} sentence(s) not backed by the sources`
      + (unplaced.length ? `: ${unplaced.join(" ")}` : " (underlined).");
    item.append(note);
  }
}

async function ask(question) {
  history.push({ role: "user", content: question });
  addTurn("user").querySelector(".body").textContent = question;
  const item = addTurn("assistant");
  item.setAttribute("aria-busy", "true");
  const body = item.querySelector(".body");
  setStatus("Searching the documents…");
  let final = null;
  try {
    const response = await api("chat", {
      method: "POST",
      body: JSON.stringify({ messages: history, stream: true }),
    });
    let draft = null;
    for await (const { event, data } of events(response)) {
      if (event === "draft") {
        if (!draft) {
          draft = document.createElement("span");
          draft.className = "draft";
          body.replaceChildren(draft);
          setStatus("Writing (a draft until the citations are checked)…");
        }
        draft.textContent += data.text;
      } else if (event === "done") {
        final = data;
      } else if (event === "error") {
        throw new Error(data.detail);
      }
    }
    if (!final) throw new Error("The answer stopped before it was complete.");
    finishTurn(item, final);
    history.push({ role: "assistant", content: final.answer });
    setStatus(final.abstained ? "The sources do not answer that." : "Answered.");
  } catch (error) {
    history.pop();
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = `Error: ${error.message}`;
    body.replaceChildren(message);
    setStatus(`Error: ${error.message}`);
  } finally {
    item.removeAttribute("aria-busy");
    item.classList.add("done");
  }
}

async function documentText(source) {
  if (!documentCache.has(source)) {
    const path = source.split("/").map(encodeURIComponent).join("/");
    documentCache.set(source, (await api(`sources/${path}/text`)).text());
  }
  return documentCache.get(source);
}

async function showCitation(citation) {
  const viewer = $("viewer");
  const pane = $("document");
  viewer.hidden = false;
  $("viewer-title").textContent = citation.title || titles.get(citation.source) || citation.source;
  $("viewer-where").textContent = citation.page
    ? `${citation.source}, page ${citation.page}` : citation.source;
  try {
    const text = await documentText(citation.source);
    const mark = document.createElement("mark");
    mark.id = "cited";
    const short = citation.short;
    if (short && short.source === citation.source && citation.start <= short.start && short.end <= citation.end) {
      const strong = document.createElement("strong");
      strong.textContent = text.slice(short.start, short.end);
      mark.append(
        document.createTextNode(text.slice(citation.start, short.start)), strong,
        document.createTextNode(text.slice(short.end, citation.end)),
      );
    } else {
      mark.textContent = text.slice(citation.start, citation.end);
    }
    pane.replaceChildren(
      document.createTextNode(text.slice(0, citation.start)), mark, document.createTextNode(text.slice(citation.end)),
    );
    mark.scrollIntoView({ block: "center" });
    pane.focus({ preventScroll: true });
  } catch (error) {
    pane.textContent = `Could not load the document: ${error.message}`;
  }
}

async function showDocument(source) {
  $("viewer").hidden = false;
  $("viewer-title").textContent = source.title || source.id;
  $("viewer-where").textContent = source.id;
  try {
    $("document").textContent = await documentText(source.id);
  } catch (error) {
    $("document").textContent = `Could not load the document: ${error.message}`;
  }
}

// The empty page suggests questions the server made from the indexed documents themselves
// (names they keep coming back to, or their titles), never from a list written for one sample.
async function showExamples() {
  const box = $("examples-box");
  let questions = [];
  try {
    ({ questions } = await (await api("examples")).json());
  } catch {
    questions = [];  // no suggestions is no reason to break the page
  }
  $("examples").replaceChildren(...questions.map((question) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = question;
    button.addEventListener("click", () => {
      $("question").value = question;
      $("ask").requestSubmit();
    });
    item.append(button);
    return item;
  }));
  box.hidden = $("conversation").children.length > 0 || questions.length === 0;
}

async function loadDocuments() {
  const list = $("documents");
  try {
    const { sources } = await (await api("sources")).json();
    titles.clear();
    for (const source of sources) titles.set(source.id, source.title || source.id);
    showExamples();
    list.replaceChildren(...sources.map((source) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "open";
      button.textContent = `${source.title || source.id} (${source.kind}, ${source.chunks} ${source.chunks === 1 ? "passage" : "passages"})`;
      button.addEventListener("click", () => showDocument(source));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete ${source.id}`);
      remove.addEventListener("click", () => deleteDocument(source.id));
      item.append(button, remove);
      return item;
    }));
  } catch (error) {
    const item = document.createElement("li");
    item.textContent = error.message;
    list.replaceChildren(item);
  }
}

// Uploads and deletions are jobs: wait for the job, then show the index as it now is.
async function followJob(response) {
  let job = await response.json();
  while (job.state === "queued" || job.state === "running") {
    $("upload-status").textContent = `Indexing: ${job.files_done} of ${job.files_total || "?"} files…`;
    await new Promise((resolve) => setTimeout(resolve, 500));
    job = await (await api(`jobs/${encodeURIComponent(job.id)}`)).json();
  }
  const problems = Object.entries(job.errors || {}).map(([file, why]) => `${file}: ${why}`);
  $("upload-status").textContent = job.state === "failed"
    ? `Failed: ${job.error}`
    : ["Done.", ...problems].join(" ");
  documentCache.clear();
  await loadDocuments();
}

async function uploadFiles(files) {
  const body = new FormData();
  for (const file of files) body.append("files", file, file.name);
  $("upload-status").textContent = "Uploading…";
  try {
    await followJob(await api("collections/default/documents", { method: "POST", body }));
  } catch (error) {
    $("upload-status").textContent = error.message;
  }
}

async function deleteDocument(id) {
  if (!window.confirm(`Delete ${id} from the index and the sources?`)) return;
  const path = id.split("/").map(encodeURIComponent).join("/");
  try {
    await followJob(await api(`collections/default/documents/${path}`, { method: "DELETE" }));
  } catch (error) {
    $("upload-status").textContent = error.message;
  }
}

function setUp() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  if (key.value) $("key-row").hidden = false;
  key.addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORAGE, key.value.trim());
    loadDocuments();
  });
  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    $("question").value = "";
    $("send").disabled = true;
    try { await ask(question); } finally { $("send").disabled = false; $("question").focus(); }
  });
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("ask").requestSubmit();
    }
  });
  $("new-chat").addEventListener("click", () => {
    history.length = 0;
    $("conversation").replaceChildren();
    $("examples-box").hidden = $("examples").children.length === 0;
    setStatus("New conversation.");
    $("question").focus();
  });
  $("upload").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!$("files").files.length) return;
    $("upload-send").disabled = true;
    try { await uploadFiles($("files").files); } finally { $("upload-send").disabled = false; $("files").value = ""; }
  });
  $("close-viewer").addEventListener("click", () => { $("viewer").hidden = true; $("question").focus(); });
  loadDocuments();
}

setUp();
