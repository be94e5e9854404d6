//! Pages of the `ferret serve` web UI. The server (crates/ferret-server) owns the routes
//! and passes them in [`Routes`]; the pages only link to those same-origin paths, and
//! their scripts call the JSON API with the session cookie (`credentials:
//! 'same-origin'`).

use serde_json::{Value, json};

use crate::html::Html;
use crate::page::{self, Origin, REPORT_JS, UI_JS};
use crate::report::{self, ReportPage, ServedReport, is_local_path};

/// The server's paths the pages link to and call. `{id}` stands for a task id. Every
/// path must be same-origin (start with a single `/`); [`Routes::check`] says which is
/// not.
#[derive(Debug, Clone)]
pub struct Routes {
    /// Login page (GET) and login form target (POST, form field `token`).
    pub login: String,
    /// Logout (POST).
    pub logout: String,
    /// Task list page.
    pub tasks: String,
    /// Submission page.
    pub submit: String,
    /// One task's page (its report when done).
    pub task: String,
    /// Task list JSON: `GET ?limit=N&offset=M[&state=S]` answering
    /// `{"tasks": [TaskInfo...], "total": N}` (a bare array is accepted too).
    pub api_tasks: String,
    /// One task's JSON (TaskInfo).
    pub api_task: String,
    /// File submission: multipart `POST` with the fields `file`, `timeout`, `net`,
    /// `arch` (optional) and `args` (one field per argument); answers the TaskInfo.
    pub api_submit_file: String,
    /// Pcap submission: multipart `POST` with the field `file`; answers the TaskInfo.
    pub api_submit_pcap: String,
    /// A task's events: `GET ?filter=EXPR&limit=N&offset=M`, answering JSON lines
    /// (the total in the `X-Total-Count` header) or `{"events": [...], "total": N}`;
    /// 400 with `{"error": ..., "column": N}` on a bad filter.
    pub api_events: String,
    /// Download path of each artifact name (see [`Routes::downloads`]).
    pub artifacts: Vec<(String, String)>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            login: "/login".into(),
            logout: "/logout".into(),
            tasks: "/tasks".into(),
            submit: "/submit".into(),
            task: "/tasks/{id}".into(),
            api_tasks: "/api/tasks".into(),
            api_task: "/api/tasks/{id}".into(),
            api_submit_file: "/api/tasks/file".into(),
            api_submit_pcap: "/api/tasks/pcap".into(),
            api_events: "/api/tasks/{id}/events".into(),
            artifacts: vec![
                ("report.json".into(), "/api/tasks/{id}/report".into()),
                ("report.html".into(), "/api/tasks/{id}/report.html".into()),
                ("capture.pcap".into(), "/api/tasks/{id}/pcap".into()),
                ("events.jsonl".into(), "/api/tasks/{id}/events".into()),
                ("dropped.zip".into(), "/api/tasks/{id}/dropped".into()),
            ],
        }
    }
}

impl Routes {
    /// Every route is a same-origin path; `Err` names the first that is not.
    pub fn check(&self) -> Result<(), String> {
        for (name, p) in [
            ("login", &self.login),
            ("logout", &self.logout),
            ("tasks", &self.tasks),
            ("submit", &self.submit),
            ("task", &self.task),
            ("api_tasks", &self.api_tasks),
            ("api_task", &self.api_task),
            ("api_submit_file", &self.api_submit_file),
            ("api_submit_pcap", &self.api_submit_pcap),
            ("api_events", &self.api_events),
        ]
        .into_iter()
        .chain(self.artifacts.iter().map(|(n, p)| (n.as_str(), p)))
        {
            if !is_local_path(p) {
                return Err(format!(
                    "route {name} = {p:?} is not a same-origin path starting with one '/'"
                ));
            }
        }
        Ok(())
    }

    fn with_id(pattern: &str, id: i64) -> String {
        pattern.replace("{id}", &id.to_string())
    }

    /// The page of task `id`.
    pub fn task_url(&self, id: i64) -> String {
        Self::with_id(&self.task, id)
    }

    /// Download links of task `id` for the stored artifacts named in `names` (in the
    /// order of [`Routes::artifacts`]; names without a download path are left out).
    pub fn downloads(&self, id: i64, names: &[&str]) -> Vec<Download> {
        self.artifacts
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(n, p)| Download {
                label: n.clone(),
                href: Self::with_id(p, id),
            })
            .collect()
    }
}

/// The logged-in session a page is rendered for.
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// Name of the API token the session was opened with (shown in the header).
    pub user: &'a str,
    /// The session's CSRF token: sent back as the `csrf` field of the logout form and
    /// the `X-CSRF-Token` header of the scripts' state-changing API calls.
    pub csrf: &'a str,
}

/// A download link on a task page.
#[derive(Debug, Clone)]
pub struct Download {
    /// Link text, e.g. `report.json`.
    pub label: String,
    /// A same-origin path; links that are not are left out.
    pub href: String,
}

/// Options of the submission form.
#[derive(Debug, Clone)]
pub struct SubmitForm {
    /// Largest upload the server takes, shown to the user and checked before upload.
    pub max_upload_bytes: u64,
    /// Architectures offered for the override (empty: the override is not offered).
    pub arches: Vec<String>,
    /// Default detonation timeout in seconds.
    pub default_timeout_secs: u32,
    /// Largest timeout the server accepts.
    pub max_timeout_secs: u32,
}

impl Default for SubmitForm {
    fn default() -> Self {
        Self {
            max_upload_bytes: 64 << 20,
            arches: Vec::new(),
            default_timeout_secs: 60,
            max_timeout_secs: 3600,
        }
    }
}

fn config_script(h: &mut Html, v: &Value) {
    h.json_script("ferret-ui", v);
}

/// Header with navigation and the logout button.
fn chrome(h: &mut Html, routes: &Routes, session: Option<Session>) {
    h.raw("<header class=\"top\"><span class=\"brand\">ferret</span>");
    if let Some(sess) = session
        && routes.check().is_ok()
    {
        h.raw("<a href=\"")
            .text(&routes.tasks)
            .raw("\" id=\"nav-tasks\">Tasks</a><a href=\"")
            .text(&routes.submit)
            .raw("\" id=\"nav-submit\">Submit</a><form method=\"post\" action=\"")
            .text(&routes.logout)
            .raw("\"><span class=\"note\">")
            .text(sess.user)
            .raw("</span> <input type=\"hidden\" name=\"csrf\" value=\"")
            .text(sess.csrf)
            .raw("\"><button type=\"submit\">Log out</button></form>");
    }
    h.raw("</header>\n");
}

fn routes_error(routes: &Routes) -> Option<String> {
    routes.check().err()
}

/// A page with the UI chrome around `body`.
fn ui_page(
    title: &str,
    routes: &Routes,
    session: Option<Session>,
    body: impl FnOnce(&mut Html),
    scripts: &[&str],
) -> String {
    let mut h = Html::with_capacity(16 << 10);
    page::begin(&mut h, title, Origin::Served);
    chrome(&mut h, routes, session);
    if let Some(e) = routes_error(routes) {
        h.raw("<main><section class=\"card\"><p class=\"err\">server misconfiguration: ")
            .text(&e)
            .raw("</p></section></main>");
        page::end(&mut h, &[]);
        return h.buf;
    }
    body(&mut h);
    page::end(&mut h, scripts);
    h.buf
}

/// The login page: one password field for an API token (`ferret token create`), posted
/// as the form field `token` to `routes.login`. `error` is shown above the form (e.g.
/// "unknown or revoked token").
pub fn login_page(routes: &Routes, error: Option<&str>) -> String {
    ui_page(
        "ferret: log in",
        routes,
        None,
        |h| {
            h.raw("<main><section class=\"card\"><h1>Log in</h1>\n");
            if let Some(e) = error {
                h.raw("<p class=\"err\" id=\"login-error\">")
                    .text(e)
                    .raw("</p>\n");
            }
            h.raw("<form class=\"box\" method=\"post\" action=\"")
                .text(&routes.login)
                .raw("\"><label for=\"token\">API token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus><span></span><button class=\"primary\" type=\"submit\" id=\"login-submit\">Log in</button></form>\n<p class=\"note\">Create a token with <code>ferret token create NAME</code>.</p></section></main>\n");
        },
        &[],
    )
}

/// The task list; its script polls `routes.api_tasks` every `poll_ms` milliseconds.
pub fn tasks_page(routes: &Routes, session: Session, poll_ms: u32) -> String {
    ui_page(
        "ferret: tasks",
        routes,
        Some(session),
        |h| {
            h.raw("<main><section class=\"card\"><h1>Tasks</h1>\n<p><label>state <select id=\"tasks-state\"><option value=\"\">all</option><option>queued</option><option>running</option><option>done</option><option>failed</option></select></label> <button id=\"tasks-prev\">previous</button> <button id=\"tasks-next\">next</button> <span class=\"note\" id=\"tasks-info\">loading…</span></p>\n<div class=\"scroll\"><table><thead><tr><th class=\"n\">task</th><th>kind</th><th>input</th><th>state</th><th>verdict</th><th class=\"n\">score</th><th>submitted (UTC)</th><th class=\"n\">attempts</th><th>error</th></tr></thead><tbody id=\"tasks-body\"></tbody></table></div></section></main>\n");
            config_script(
                h,
                &json!({"page": "tasks", "api_tasks": routes.api_tasks, "task_page": routes.task,
                        "login": routes.login, "poll_ms": poll_ms.max(250)}),
            );
        },
        &[UI_JS],
    )
}

/// The submission page: a file (with timeout, network mode, architecture override and
/// arguments) or a pcap. The script posts to the API and opens the new task's page.
pub fn submit_page(routes: &Routes, session: Session, form: &SubmitForm) -> String {
    ui_page(
        "ferret: submit",
        routes,
        Some(session),
        |h| {
            h.raw("<main><section class=\"card\"><h1>Submit</h1>\n<form class=\"box\" id=\"submit-form\"><label for=\"sub-kind\">kind</label><select id=\"sub-kind\"><option value=\"file\">file to detonate</option><option value=\"pcap\">pcap to analyse</option></select>\n<label for=\"sub-file\">file</label><input id=\"sub-file\" type=\"file\" required>\n<label class=\"file-only\" for=\"sub-timeout\">timeout (s)</label><input class=\"file-only\" id=\"sub-timeout\" type=\"number\" min=\"1\" max=\"")
                .num(form.max_timeout_secs.max(1))
                .raw("\" value=\"")
                .num(form.default_timeout_secs.clamp(1, form.max_timeout_secs.max(1)))
                .raw("\">\n<label class=\"file-only\" for=\"sub-net\">network</label><select class=\"file-only\" id=\"sub-net\"><option value=\"fake\">fake internet</option><option value=\"none\">none (loopback only)</option></select>\n<label class=\"file-only\" for=\"sub-arch\">architecture</label><select class=\"file-only\" id=\"sub-arch\"><option value=\"\">from the file</option>");
            for a in &form.arches {
                h.raw("<option>").text(a).raw("</option>");
            }
            h.raw("</select>\n<label class=\"file-only\" for=\"sub-args\">arguments<br><span class=\"note\">one per line</span></label><textarea class=\"file-only\" id=\"sub-args\" rows=\"3\" spellcheck=\"false\"></textarea>\n<span></span><button class=\"primary\" type=\"submit\" id=\"sub-go\">Submit</button></form>\n<p class=\"note\">Uploads up to ")
                .num(form.max_upload_bytes >> 20)
                .raw(" MiB. The file name is kept as a label only.</p>\n<p class=\"err\" id=\"submit-status\"></p></section></main>\n");
            config_script(
                h,
                &json!({"page": "submit", "api_submit_file": routes.api_submit_file,
                        "api_submit_pcap": routes.api_submit_pcap, "task_page": routes.task,
                        "login": routes.login, "max_upload": form.max_upload_bytes,
                        "csrf": session.csrf}),
            );
        },
        &[UI_JS],
    )
}

fn task_summary(h: &mut Html, task: &Value) {
    let state = task.get("state").and_then(Value::as_str).unwrap_or("");
    let cls = match state {
        "queued" | "running" | "done" | "failed" => state,
        _ => "queued",
    };
    h.raw("<p>task <strong>#")
        .text(&task.get("id").map(Value::to_string).unwrap_or_default())
        .raw("</strong> · ")
        .text(task.get("kind").and_then(Value::as_str).unwrap_or(""))
        .raw(" <span class=\"mono\">")
        .text(task.get("input_name").and_then(Value::as_str).unwrap_or(""))
        .raw("</span> · <span class=\"st st-")
        .raw(cls)
        .raw("\" id=\"task-state\">")
        .text(state)
        .raw("</span>");
    if let Some(sha) = task.get("input_sha256").and_then(Value::as_str) {
        h.raw(" · sha256 <span class=\"mono\">")
            .text(sha)
            .raw("</span>");
    }
    h.raw("</p>\n");
}

fn downloads(h: &mut Html, links: &[Download]) {
    let ok: Vec<&Download> = links.iter().filter(|d| is_local_path(&d.href)).collect();
    if ok.is_empty() {
        return;
    }
    h.raw("<p class=\"downloads\" id=\"downloads\">download: ");
    for d in ok {
        h.raw("<a href=\"")
            .text(&d.href)
            .raw("\" download>")
            .text(&d.label)
            .raw("</a>");
    }
    h.raw("</p>\n");
}

/// One task's page. `task` is the API's TaskInfo JSON. A queued or running task gets a
/// page that polls `routes.api_task` and reloads when the task ends; a failed one shows
/// the reason; a done one shows `report` (report.json, or the network report of a pcap
/// task) inside the UI, with `links` to download the artifacts and the event table
/// querying `routes.api_events`.
pub fn task_page(
    routes: &Routes,
    session: Session,
    task: &Value,
    report: Option<&Value>,
    events_jsonl: Option<&[u8]>,
    links: &[Download],
    opts: &ReportPage,
) -> String {
    let id = task.get("id").and_then(Value::as_i64).unwrap_or(0);
    let state = task.get("state").and_then(Value::as_str).unwrap_or("");
    let title = match report {
        Some(r) => report::page_title(r),
        None => format!("ferret: task {id}"),
    };
    let Some(r) = report.filter(|_| state == "done") else {
        let waiting = matches!(state, "queued" | "running");
        return ui_page(
            &title,
            routes,
            Some(session),
            |h| {
                h.raw("<main><section class=\"card\"><h1>Task ")
                    .num(id)
                    .raw("</h1>\n");
                task_summary(h, task);
                if waiting {
                    h.raw("<p>The analysis is <strong id=\"wait-state\">")
                        .text(state)
                        .raw("</strong>; this page opens the report when it is done.</p>\n");
                    config_script(
                        h,
                        &json!({"page": "task-wait", "task": id, "api_task": routes.api_task,
                                "login": routes.login, "poll_ms": 1000}),
                    );
                } else if state == "failed" {
                    h.raw("<p class=\"err\" id=\"task-error\">the analysis failed: ")
                        .text(
                            task.get("error")
                                .and_then(Value::as_str)
                                .unwrap_or("no reason given"),
                        )
                        .raw("</p>\n");
                } else {
                    h.raw("<p class=\"err\">no report is stored for this task.</p>\n");
                }
                downloads(h, links);
                h.raw("</section></main>\n");
            },
            &[UI_JS],
        );
    };
    let mut opts = opts.clone();
    // The served event table asks the server; events.jsonl only feeds the timeline and
    // the process architectures, so none is embedded.
    opts.max_events = 0;
    let events_url = Routes::with_id(&routes.api_events, id);
    opts.served = Some(ServedReport {
        task_id: id,
        events_url,
    });
    ui_page(
        &title,
        routes,
        Some(session),
        |h| {
            let top = |h: &mut Html| {
                h.raw("<section class=\"card\">");
                task_summary(h, task);
                downloads(h, links);
                h.raw("</section>\n");
            };
            let scan = events_jsonl.map(|e| report::scan_events(e, &opts));
            report::write_report_body(h, r, scan.as_ref(), &opts, Some(&top));
        },
        &[REPORT_JS],
    )
}

/// An error page inside the UI chrome (404 of an unknown task, 500...); `session`
/// `None` for a visitor who is not logged in.
pub fn error_page(routes: &Routes, session: Option<Session>, status: u16, message: &str) -> String {
    ui_page(
        &format!("ferret: error {status}"),
        routes,
        session,
        |h| {
            h.raw("<main><section class=\"card\"><h1>Error ")
                .num(status)
                .raw("</h1><p class=\"err\">")
                .text(message)
                .raw("</p></section></main>\n");
        },
        &[],
    )
}
