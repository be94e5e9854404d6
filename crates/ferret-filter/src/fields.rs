//! The field registry (names as in sysdig/Falco) and field extraction from an event and
//! the state machine's view of it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;

use ferret_event::{Event, FdView, Process, SockAddr, Value, View, errno_name};

/// Value type of a field, which decides how comparison operands are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text.
    Str,
    /// Signed integer.
    Int,
    /// Unsigned integer.
    Uint,
    /// `true` / `false`.
    Bool,
    /// IP address (compares with addresses and CIDR networks).
    Ip,
    /// IP network membership (`fd.net = 10.0.0.0/8`).
    Net,
    /// Port number.
    Port,
    /// Absolute time in ns.
    AbsTime,
    /// Duration in ns.
    RelTime,
    /// Typed per event (`evt.arg.*`): numeric or text comparison decided by the value.
    Dyn,
}

impl FieldType {
    /// Name used by `ferret fields`, as sysdig prints it.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "CHARBUF",
            FieldType::Int => "INT64",
            FieldType::Uint => "UINT64",
            FieldType::Bool => "BOOL",
            FieldType::Ip => "IPADDR",
            FieldType::Net => "IPNET",
            FieldType::Port => "PORT",
            FieldType::AbsTime => "ABSTIME",
            FieldType::RelTime => "RELTIME",
            FieldType::Dyn => "DYNAMIC",
        }
    }
}

/// What kind of argument a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// None.
    No,
    /// Optional `[N]` (ancestor depth); without it the field covers every ancestor.
    Index,
    /// Required `.NAME` or `[N]` (argument name or position).
    NameOrIndex,
    /// Required `[NAME]` (environment variable name).
    Key,
}

/// Field identifiers. `Absent` fields exist by name but ferret never has a value for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Field {
    EvtNum,
    EvtTime,
    EvtTimeIso,
    EvtRawTime,
    EvtType,
    EvtDir,
    EvtSource,
    EvtRes,
    EvtRawRes,
    EvtFailed,
    EvtArgs,
    EvtArg,
    EvtRawArg,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtHostname,
    EvtBuffer,
    EvtBufLen,
    EvtCategory,
    ProcPid,
    ProcPpid,
    ProcVpid,
    ProcName,
    ProcExe,
    ProcExePath,
    ProcCmdline,
    ProcArgs,
    ProcCwd,
    ProcEnv,
    ProcPname,
    ProcPcmdline,
    ProcPexe,
    ProcPexePath,
    ProcPpidDuration,
    ProcAname,
    ProcApid,
    ProcAexe,
    ProcAexePath,
    ProcAcmdline,
    ProcSid,
    ProcSname,
    ProcSidExe,
    ProcSidExePath,
    ProcVpgid,
    ProcVpgidName,
    ProcVpgidExe,
    ProcTty,
    ProcIsSidLeader,
    ProcIsVpgidLeader,
    ProcIsExeUpperLayer,
    ProcIsExeFromMemfd,
    ProcDuration,
    ProcStartTs,
    ThreadTid,
    ThreadVtid,
    UserUid,
    UserName,
    UserLoginUid,
    UserLoginName,
    UserHomedir,
    UserShell,
    GroupGid,
    GroupName,
    FdNum,
    FdName,
    FdNameRaw,
    FdType,
    FdTypeChar,
    FdDirectory,
    FdFilename,
    FdIp,
    FdCip,
    FdSip,
    FdLip,
    FdRip,
    FdPort,
    FdCport,
    FdSport,
    FdLport,
    FdRport,
    FdL4Proto,
    FdSockFamily,
    FdIsServer,
    FdNet,
    FdCnet,
    FdSnet,
    FdLnet,
    FdRnet,
    FdConnected,
    FdNameChanged,
    FdTypes,
    FsPathName,
    FsPathNameRaw,
    FsPathSource,
    FsPathSourceRaw,
    FsPathTarget,
    FsPathTargetRaw,
    Absent,
}

/// One registry entry.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// Full name (`proc.name`).
    pub name: &'static str,
    /// Identifier.
    pub id: Field,
    /// Value type.
    pub ty: FieldType,
    /// Argument kind.
    pub arg: ArgKind,
    /// One-line description.
    pub desc: &'static str,
}

const fn f(name: &'static str, id: Field, ty: FieldType, desc: &'static str) -> FieldInfo {
    FieldInfo {
        name,
        id,
        ty,
        arg: ArgKind::No,
        desc,
    }
}
const fn fa(
    name: &'static str,
    id: Field,
    ty: FieldType,
    arg: ArgKind,
    desc: &'static str,
) -> FieldInfo {
    FieldInfo {
        name,
        id,
        ty,
        arg,
        desc,
    }
}
const fn absent(name: &'static str, ty: FieldType, desc: &'static str) -> FieldInfo {
    FieldInfo {
        name,
        id: Field::Absent,
        ty,
        arg: ArgKind::No,
        desc,
    }
}
const fn absent_arg(name: &'static str, ty: FieldType, desc: &'static str) -> FieldInfo {
    FieldInfo {
        name,
        id: Field::Absent,
        ty,
        arg: ArgKind::Key,
        desc,
    }
}

use FieldType::{Bool, Dyn, Int, Ip, Net, Port, RelTime, Str, Uint};

/// Every field ferret knows, in `ferret fields` order.
pub static FIELDS: &[FieldInfo] = &[
    f("evt.num", Field::EvtNum, Uint, "event sequence number"),
    f(
        "evt.time",
        Field::EvtTime,
        Str,
        "event time as HH:MM:SS.nnnnnnnnn (UTC)",
    ),
    f(
        "evt.time.iso8601",
        Field::EvtTimeIso,
        Str,
        "event time in ISO 8601 (UTC)",
    ),
    f(
        "evt.rawtime",
        Field::EvtRawTime,
        FieldType::AbsTime,
        "event time in ns since the epoch",
    ),
    f(
        "evt.type",
        Field::EvtType,
        Str,
        "event type: the syscall name (open, execve...) or a source-specific type",
    ),
    f(
        "evt.dir",
        Field::EvtDir,
        Str,
        "event direction: > enter, < exit",
    ),
    f(
        "evt.source",
        Field::EvtSource,
        Str,
        "event source: syscall, audit, filewatch, network",
    ),
    f(
        "evt.category",
        Field::EvtCategory,
        Str,
        "event category: file, net, process, ipc, memory, signal, other",
    ),
    f(
        "evt.res",
        Field::EvtRes,
        Str,
        "call result: SUCCESS, or the errno name (ENOENT...)",
    ),
    f(
        "evt.rawres",
        Field::EvtRawRes,
        Int,
        "raw return value (negative errno on failure)",
    ),
    f(
        "evt.failed",
        Field::EvtFailed,
        Bool,
        "true if the call returned an error",
    ),
    f(
        "evt.args",
        Field::EvtArgs,
        Str,
        "all arguments as name=value text",
    ),
    fa(
        "evt.arg",
        Field::EvtArg,
        Dyn,
        ArgKind::NameOrIndex,
        "one argument by name (evt.arg.fd) or position (evt.arg[0]), rendered; ret is evt.arg.res",
    ),
    fa(
        "evt.rawarg",
        Field::EvtRawArg,
        Dyn,
        ArgKind::NameOrIndex,
        "one argument by name, raw numeric value where it has one",
    ),
    f(
        "evt.is_open_read",
        Field::EvtIsOpenRead,
        Bool,
        "open-type call that opened for reading",
    ),
    f(
        "evt.is_open_write",
        Field::EvtIsOpenWrite,
        Bool,
        "open-type call that opened for writing",
    ),
    f(
        "evt.is_open_exec",
        Field::EvtIsOpenExec,
        Bool,
        "open-type call that created a file with execute permission",
    ),
    f(
        "evt.hostname",
        Field::EvtHostname,
        Str,
        "host name of the machine ferret runs on",
    ),
    f(
        "evt.buffer",
        Field::EvtBuffer,
        Str,
        "data buffer of a read/write/send/recv (argument data)",
    ),
    f("evt.buflen", Field::EvtBufLen, Uint, "length of evt.buffer"),
    f("proc.pid", Field::ProcPid, Int, "process id"),
    f("proc.ppid", Field::ProcPpid, Int, "parent process id"),
    f(
        "proc.vpid",
        Field::ProcVpid,
        Int,
        "process id as seen from its pid namespace (the pid on hosts)",
    ),
    f(
        "proc.name",
        Field::ProcName,
        Str,
        "process name (comm): executable base name or the name set by prctl",
    ),
    f(
        "proc.exe",
        Field::ProcExe,
        Str,
        "first command-line argument (argv[0])",
    ),
    f(
        "proc.exepath",
        Field::ProcExePath,
        Str,
        "full path of the executable",
    ),
    f(
        "proc.cmdline",
        Field::ProcCmdline,
        Str,
        "name and arguments",
    ),
    f(
        "proc.args",
        Field::ProcArgs,
        Str,
        "arguments without argv[0], space-separated",
    ),
    f("proc.cwd", Field::ProcCwd, Str, "working directory"),
    fa(
        "proc.env",
        Field::ProcEnv,
        Str,
        ArgKind::Key,
        "environment, space-separated; proc.env[NAME] gives one variable",
    ),
    f("proc.pname", Field::ProcPname, Str, "parent's name"),
    f(
        "proc.pcmdline",
        Field::ProcPcmdline,
        Str,
        "parent's command line",
    ),
    f("proc.pexe", Field::ProcPexe, Str, "parent's argv[0]"),
    f(
        "proc.pexepath",
        Field::ProcPexePath,
        Str,
        "parent's executable path",
    ),
    f(
        "proc.ppid.duration",
        Field::ProcPpidDuration,
        RelTime,
        "ns since the parent started",
    ),
    fa(
        "proc.aname",
        Field::ProcAname,
        Str,
        ArgKind::Index,
        "name of the N-th ancestor (1 = parent); without [N], any ancestor",
    ),
    fa(
        "proc.apid",
        Field::ProcApid,
        Int,
        ArgKind::Index,
        "pid of the N-th ancestor; without [N], any ancestor",
    ),
    fa(
        "proc.aexe",
        Field::ProcAexe,
        Str,
        ArgKind::Index,
        "argv[0] of the N-th ancestor; without [N], any ancestor",
    ),
    fa(
        "proc.aexepath",
        Field::ProcAexePath,
        Str,
        ArgKind::Index,
        "executable path of the N-th ancestor; without [N], any ancestor",
    ),
    fa(
        "proc.acmdline",
        Field::ProcAcmdline,
        Str,
        ArgKind::Index,
        "command line of the N-th ancestor; without [N], any ancestor",
    ),
    f("proc.sid", Field::ProcSid, Int, "session id"),
    f(
        "proc.sname",
        Field::ProcSname,
        Str,
        "name of the session leader",
    ),
    f(
        "proc.sid.exe",
        Field::ProcSidExe,
        Str,
        "argv[0] of the session leader",
    ),
    f(
        "proc.sid.exepath",
        Field::ProcSidExePath,
        Str,
        "executable path of the session leader",
    ),
    f("proc.vpgid", Field::ProcVpgid, Int, "process group id"),
    f(
        "proc.vpgid.name",
        Field::ProcVpgidName,
        Str,
        "name of the process group leader",
    ),
    f(
        "proc.vpgid.exe",
        Field::ProcVpgidExe,
        Str,
        "argv[0] of the process group leader",
    ),
    f(
        "proc.tty",
        Field::ProcTty,
        Int,
        "controlling terminal (0: none)",
    ),
    f(
        "proc.is_sid_leader",
        Field::ProcIsSidLeader,
        Bool,
        "process is its session's leader",
    ),
    f(
        "proc.is_vpgid_leader",
        Field::ProcIsVpgidLeader,
        Bool,
        "process is its process group's leader",
    ),
    f(
        "proc.is_exe_upper_layer",
        Field::ProcIsExeUpperLayer,
        Bool,
        "executable lives in an overlayfs upper layer (false outside containers)",
    ),
    f(
        "proc.is_exe_from_memfd",
        Field::ProcIsExeFromMemfd,
        Bool,
        "executable was run from a memfd (fileless execution)",
    ),
    f(
        "proc.duration",
        Field::ProcDuration,
        RelTime,
        "ns since the process started",
    ),
    f(
        "proc.start_ts",
        Field::ProcStartTs,
        FieldType::AbsTime,
        "process start time, ns since the epoch",
    ),
    f("thread.tid", Field::ThreadTid, Int, "thread id"),
    f(
        "thread.vtid",
        Field::ThreadVtid,
        Int,
        "thread id as seen from its pid namespace",
    ),
    f("user.uid", Field::UserUid, Uint, "real user id"),
    f(
        "user.name",
        Field::UserName,
        Str,
        "user name (from this host's /etc/passwd)",
    ),
    f(
        "user.loginuid",
        Field::UserLoginUid,
        Int,
        "audit login uid (-1: unset)",
    ),
    f(
        "user.loginname",
        Field::UserLoginName,
        Str,
        "name of the login user",
    ),
    f(
        "user.homedir",
        Field::UserHomedir,
        Str,
        "home directory of the user",
    ),
    f(
        "user.shell",
        Field::UserShell,
        Str,
        "login shell of the user",
    ),
    f("group.gid", Field::GroupGid, Uint, "real group id"),
    f(
        "group.name",
        Field::GroupName,
        Str,
        "group name (from this host's /etc/group)",
    ),
    f(
        "fd.num",
        Field::FdNum,
        Int,
        "file descriptor number (-1 for a failed open)",
    ),
    f(
        "fd.name",
        Field::FdName,
        Str,
        "absolute path, memfd:NAME, or client->server tuple for sockets",
    ),
    f(
        "fd.nameraw",
        Field::FdNameRaw,
        Str,
        "path as the process passed it",
    ),
    f(
        "fd.type",
        Field::FdType,
        Str,
        "file, directory, ipv4, ipv6, unix, netlink, packet, pipe, memfd, event, signalfd, eventpoll, inotify, timerfd, bpf, userfaultfd, pidfd",
    ),
    f(
        "fd.typechar",
        Field::FdTypeChar,
        Str,
        "one-letter fd.type: f d 4 6 u n k p m e s l i t b P",
    ),
    f(
        "fd.directory",
        Field::FdDirectory,
        Str,
        "directory part of fd.name (the name itself for directories)",
    ),
    f(
        "fd.filename",
        Field::FdFilename,
        Str,
        "file part of fd.name",
    ),
    f("fd.ip", Field::FdIp, Ip, "either endpoint's IP address"),
    f("fd.cip", Field::FdCip, Ip, "client IP address"),
    f("fd.sip", Field::FdSip, Ip, "server IP address"),
    f("fd.lip", Field::FdLip, Ip, "local IP address"),
    f("fd.rip", Field::FdRip, Ip, "remote IP address"),
    f("fd.port", Field::FdPort, Port, "either endpoint's port"),
    f("fd.cport", Field::FdCport, Port, "client port"),
    f("fd.sport", Field::FdSport, Port, "server port"),
    f("fd.lport", Field::FdLport, Port, "local port"),
    f("fd.rport", Field::FdRport, Port, "remote port"),
    f("fd.l4proto", Field::FdL4Proto, Str, "tcp, udp, icmp, raw"),
    f("fd.sockfamily", Field::FdSockFamily, Str, "ip or unix"),
    f(
        "fd.is_server",
        Field::FdIsServer,
        Bool,
        "the process is the server side of the socket",
    ),
    f(
        "fd.net",
        Field::FdNet,
        Net,
        "either endpoint is in the given network",
    ),
    f(
        "fd.cnet",
        Field::FdCnet,
        Net,
        "client is in the given network",
    ),
    f(
        "fd.snet",
        Field::FdSnet,
        Net,
        "server is in the given network",
    ),
    f(
        "fd.lnet",
        Field::FdLnet,
        Net,
        "local endpoint is in the given network",
    ),
    f(
        "fd.rnet",
        Field::FdRnet,
        Net,
        "remote endpoint is in the given network",
    ),
    f(
        "fd.connected",
        Field::FdConnected,
        Bool,
        "socket is connected",
    ),
    f(
        "fd.name_changed",
        Field::FdNameChanged,
        Bool,
        "fd.name changed on this event (connect, bind, accept)",
    ),
    f(
        "fd.types",
        Field::FdTypes,
        Str,
        "fd types the process holds; compare with in/intersects",
    ),
    f(
        "fs.path.name",
        Field::FsPathName,
        Str,
        "absolute path the call operates on (mkdir, unlink, chmod...)",
    ),
    f(
        "fs.path.nameraw",
        Field::FsPathNameRaw,
        Str,
        "path as passed",
    ),
    f(
        "fs.path.source",
        Field::FsPathSource,
        Str,
        "absolute source path of rename/link/symlink",
    ),
    f(
        "fs.path.sourceraw",
        Field::FsPathSourceRaw,
        Str,
        "source path as passed",
    ),
    f(
        "fs.path.target",
        Field::FsPathTarget,
        Str,
        "absolute target path of rename/link/symlink",
    ),
    f(
        "fs.path.targetraw",
        Field::FsPathTargetRaw,
        Str,
        "target path as passed",
    ),
    // Known, never available in ferret: they always evaluate as absent.
    absent(
        "thread.cap_permitted",
        Str,
        "permitted capabilities (not tracked: absent)",
    ),
    absent(
        "thread.cap_effective",
        Str,
        "effective capabilities (not tracked: absent)",
    ),
    absent(
        "thread.cap_inheritable",
        Str,
        "inheritable capabilities (not tracked: absent)",
    ),
    absent(
        "proc.is_exe_writable",
        Bool,
        "executable writable by the user (not tracked: absent)",
    ),
    absent("proc.exe_ino", Uint, "inode of the executable (absent)"),
    absent(
        "proc.exe_ino.ctime",
        FieldType::AbsTime,
        "ctime of the executable (absent)",
    ),
    absent(
        "proc.exe_ino.mtime",
        FieldType::AbsTime,
        "mtime of the executable (absent)",
    ),
    absent("proc.exe_ino.ctime_duration_proc_start", RelTime, "absent"),
    absent("proc.exe_ino.ctime_duration_pidns_start", RelTime, "absent"),
    absent(
        "proc.is_container_healthcheck",
        Bool,
        "container metadata (absent)",
    ),
    absent(
        "proc.is_container_liveness_probe",
        Bool,
        "container metadata (absent)",
    ),
    absent(
        "proc.is_container_readiness_probe",
        Bool,
        "container metadata (absent)",
    ),
    absent("fd.cip.name", Str, "DNS name of fd.cip (absent)"),
    absent("fd.sip.name", Str, "DNS name of fd.sip (absent)"),
    absent("fd.lip.name", Str, "DNS name of fd.lip (absent)"),
    absent("fd.rip.name", Str, "DNS name of fd.rip (absent)"),
    absent("fd.dev", Uint, "device number (absent)"),
    absent("fd.ino", Uint, "inode number (absent)"),
    absent(
        "container.id",
        Str,
        "container id (absent: ferret has no container metadata)",
    ),
    absent("container.full_id", Str, "container metadata (absent)"),
    absent("container.name", Str, "container metadata (absent)"),
    absent("container.image", Str, "container metadata (absent)"),
    absent("container.image.id", Str, "container metadata (absent)"),
    absent(
        "container.image.repository",
        Str,
        "container metadata (absent)",
    ),
    absent("container.image.tag", Str, "container metadata (absent)"),
    absent("container.image.digest", Str, "container metadata (absent)"),
    absent("container.type", Str, "container metadata (absent)"),
    absent("container.privileged", Bool, "container metadata (absent)"),
    absent("container.mounts", Str, "container metadata (absent)"),
    absent_arg("container.mount", Str, "container metadata (absent)"),
    absent_arg("container.mount.source", Str, "container metadata (absent)"),
    absent_arg("container.mount.dest", Str, "container metadata (absent)"),
    absent_arg("container.mount.mode", Str, "container metadata (absent)"),
    absent_arg("container.mount.rdwr", Str, "container metadata (absent)"),
    absent_arg(
        "container.mount.propagation",
        Str,
        "container metadata (absent)",
    ),
    absent(
        "container.start_ts",
        FieldType::AbsTime,
        "container metadata (absent)",
    ),
    absent("container.duration", RelTime, "container metadata (absent)"),
    absent("container.ip", Ip, "container metadata (absent)"),
    absent("container.cni.json", Str, "container metadata (absent)"),
    absent("container.host_pid", Bool, "container metadata (absent)"),
    absent(
        "container.host_network",
        Bool,
        "container metadata (absent)",
    ),
    absent("container.host_ipc", Bool, "container metadata (absent)"),
    absent("container.healthcheck", Str, "container metadata (absent)"),
    absent(
        "container.liveness_probe",
        Str,
        "container metadata (absent)",
    ),
    absent(
        "container.readiness_probe",
        Str,
        "container metadata (absent)",
    ),
    absent_arg("container.label", Str, "container metadata (absent)"),
    absent("container.labels", Str, "container metadata (absent)"),
    absent("container.info", Str, "container metadata (absent)"),
    absent("k8s.ns.name", Str, "Kubernetes metadata (absent)"),
    absent("k8s.ns.id", Str, "Kubernetes metadata (absent)"),
    absent_arg("k8s.ns.label", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.name", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.id", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.uid", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.ip", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.cni.json", Str, "Kubernetes metadata (absent)"),
    absent_arg("k8s.pod.label", Str, "Kubernetes metadata (absent)"),
    absent("k8s.pod.labels", Str, "Kubernetes metadata (absent)"),
    absent("k8s.rc.name", Str, "Kubernetes metadata (absent)"),
    absent("k8s.rs.name", Str, "Kubernetes metadata (absent)"),
    absent("k8s.svc.name", Str, "Kubernetes metadata (absent)"),
    absent("k8s.deployment.name", Str, "Kubernetes metadata (absent)"),
];

/// Looks a field up by exact name.
pub fn field_info(name: &str) -> Option<&'static FieldInfo> {
    static INDEX: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let idx = INDEX.get_or_init(|| {
        FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name, i))
            .collect()
    });
    idx.get(name).and_then(|i| FIELDS.get(*i))
}

/// A field's argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldArg {
    /// No argument.
    None,
    /// `[N]`.
    Index(usize),
    /// `.NAME` or `[NAME]`.
    Name(Box<str>),
}

/// A resolved field reference.
#[derive(Debug, Clone)]
pub struct FieldRef {
    /// Registry entry.
    pub info: &'static FieldInfo,
    /// Argument.
    pub arg: FieldArg,
    /// `info.id`, copied here so evaluation does not chase the registry pointer.
    pub id: Field,
    multi: bool,
}

/// Error resolving a field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError(pub String);

impl FieldRef {
    /// A reference to `info` with argument `arg`.
    pub fn new(info: &'static FieldInfo, arg: FieldArg) -> FieldRef {
        let multi = match info.id {
            Field::ProcAname
            | Field::ProcApid
            | Field::ProcAexe
            | Field::ProcAexePath
            | Field::ProcAcmdline => arg == FieldArg::None,
            Field::FdIp | Field::FdPort | Field::FdNet | Field::FdTypes => true,
            _ => false,
        };
        FieldRef {
            info,
            arg,
            id: info.id,
            multi,
        }
    }

    /// Resolves `name` (e.g. `proc.aname[2]`, `evt.arg.flags`, `evt.arg[1]`).
    pub fn parse(name: &str) -> Result<FieldRef, FieldError> {
        let (base, bracket) = match name.find('[') {
            Some(i) => {
                let inner = name[i + 1..].strip_suffix(']').ok_or_else(|| {
                    FieldError(format!("field {name:?}: missing ']' after the argument"))
                })?;
                (&name[..i], Some(inner))
            }
            None => (name, None),
        };
        if let Some(info) = field_info(base) {
            let arg = match (info.arg, bracket) {
                (_, Some("")) => return Err(FieldError(format!("field {name:?}: empty argument"))),
                (ArgKind::No, Some(_)) => {
                    return Err(FieldError(format!("field {base:?} takes no argument")));
                }
                (ArgKind::No, None) | (ArgKind::Index, None) => FieldArg::None,
                (ArgKind::Index, Some(a)) => FieldArg::Index(a.parse().map_err(|_| {
                    FieldError(format!("field {name:?}: argument must be a number"))
                })?),
                (ArgKind::NameOrIndex, Some(a)) => match a.parse() {
                    Ok(n) => FieldArg::Index(n),
                    Err(_) => FieldArg::Name(a.into()),
                },
                (ArgKind::Key, Some(a)) => FieldArg::Name(a.into()),
                (ArgKind::Key, None) => FieldArg::None,
                (ArgKind::NameOrIndex, None) => {
                    return Err(FieldError(format!(
                        "field {base:?} needs an argument: {base}.NAME or {base}[N]"
                    )));
                }
            };
            return Ok(FieldRef::new(info, arg));
        }
        // `evt.arg.NAME` / `evt.rawarg.NAME` style arguments.
        if bracket.is_none() {
            for prefix in ["evt.arg.", "evt.rawarg."] {
                if let Some(arg) = name.strip_prefix(prefix).filter(|a| !a.is_empty()) {
                    let info = field_info(&prefix[..prefix.len() - 1])
                        .ok_or_else(|| FieldError(format!("unknown field {name:?}")))?;
                    return Ok(FieldRef::new(info, FieldArg::Name(arg.into())));
                }
            }
        }
        Err(FieldError(format!("unknown field {name:?}")))
    }

    /// Whether ferret never has a value for this field.
    pub fn is_absent(&self) -> bool {
        self.id == Field::Absent
    }

    /// Whether this reference can yield several values (`proc.aname` without index,
    /// `fd.ip`, `fd.port`, `fd.net`, `fd.types`).
    pub fn is_multi(&self) -> bool {
        self.multi
    }

    /// Display name including the argument.
    pub fn display(&self) -> String {
        match &self.arg {
            FieldArg::None => self.info.name.to_owned(),
            FieldArg::Index(n) => format!("{}[{n}]", self.info.name),
            FieldArg::Name(a) if self.info.arg == ArgKind::NameOrIndex => {
                format!("{}.{a}", self.info.name)
            }
            FieldArg::Name(a) => format!("{}[{a}]", self.info.name),
        }
    }
}

/// An extracted field value.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    /// Text.
    Str(Cow<'a, str>),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// IP address.
    Ip(IpAddr),
    /// An event argument, typed per event.
    Arg(&'a Value),
}

impl Val<'_> {
    /// Renders the value as text (output strings).
    pub fn render(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(s),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Val::Arg(v) => v.render(out),
        }
    }
}

/// Everything a field can be extracted from.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The event.
    pub ev: &'a Event,
    /// The state machine's view of it.
    pub view: View<'a>,
}

fn s(v: &str) -> Option<Val<'_>> {
    Some(Val::Str(Cow::Borrowed(v)))
}
fn nonempty(v: &str) -> Option<Val<'_>> {
    if v.is_empty() { None } else { s(v) }
}

fn host_table(path: &str) -> FxMap {
    let mut m = FxMap::default();
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            let cols: Vec<&str> = line.split(':').collect();
            if let (Some(name), Some(id)) = (
                cols.first(),
                cols.get(2).and_then(|v| v.parse::<u32>().ok()),
            ) {
                let home = cols.get(5).copied().unwrap_or("").to_owned();
                let shell = cols.get(6).copied().unwrap_or("").to_owned();
                m.entry(id).or_insert(((*name).to_owned(), home, shell));
            }
        }
    }
    m
}

type FxMap = rustc_hash::FxHashMap<u32, (String, String, String)>;

fn users() -> &'static FxMap {
    static U: OnceLock<FxMap> = OnceLock::new();
    U.get_or_init(|| host_table("/etc/passwd"))
}
fn groups() -> &'static FxMap {
    static G: OnceLock<FxMap> = OnceLock::new();
    G.get_or_init(|| host_table("/etc/group"))
}
fn user_name(uid: u32) -> Option<&'static str> {
    if uid == 0 {
        return Some("root");
    }
    users().get(&uid).map(|u| u.0.as_str())
}

fn hostname() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    })
}

/// `HH:MM:SS.nnnnnnnnn` of a ns timestamp (UTC).
pub fn format_time(ts: u64) -> String {
    let secs = ts / 1_000_000_000;
    let ns = ts % 1_000_000_000;
    format!(
        "{:02}:{:02}:{:02}.{ns:09}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// ISO 8601 UTC text of a ns timestamp (`2024-01-02T03:04:05.123456789Z`).
pub fn format_iso8601(ts: u64) -> String {
    let secs = ts / 1_000_000_000;
    let ns = ts % 1_000_000_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = ferret_event::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ns:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn category(ty: &str) -> &'static str {
    match ty {
        "open" | "openat" | "openat2" | "creat" | "read" | "write" | "pread64" | "pwrite64"
        | "readv" | "writev" | "close" | "unlink" | "unlinkat" | "rename" | "renameat"
        | "renameat2" | "mkdir" | "mkdirat" | "rmdir" | "chmod" | "fchmod" | "fchmodat"
        | "chown" | "fchown" | "lchown" | "fchownat" | "link" | "linkat" | "symlink"
        | "symlinkat" | "truncate" | "ftruncate" | "stat" | "lstat" | "fstat" | "newfstatat"
        | "statx" | "access" | "faccessat" | "getdents" | "getdents64" | "memfd_create" => "file",
        "socket" | "connect" | "accept" | "accept4" | "bind" | "listen" | "sendto" | "recvfrom"
        | "sendmsg" | "recvmsg" | "shutdown" | "socketpair" | "setsockopt" | "getsockopt" => "net",
        "clone" | "clone3" | "fork" | "vfork" | "execve" | "execveat" | "exit" | "exit_group"
        | "procexit" | "kill" | "tkill" | "tgkill" | "ptrace" | "prctl" | "setsid" | "setpgid"
        | "setuid" | "setgid" | "setresuid" | "setresgid" => "process",
        "mmap" | "munmap" | "mprotect" | "brk" | "mremap" => "memory",
        "pipe" | "pipe2" | "eventfd" | "eventfd2" => "ipc",
        _ => "other",
    }
}

/// Open flags of an open-type call: the numeric value when the producer gave one, else
/// the access mode and bits recovered from the symbolic text.
fn open_flags(ctx: &Ctx<'_>) -> Option<u64> {
    if !matches!(
        ctx.ev.ty.as_ref(),
        "open" | "openat" | "openat2" | "creat" | "open_by_handle_at"
    ) {
        return None;
    }
    match ctx.ev.args.get("flags") {
        Some(Value::Flags { value, text }) if *value != 0 || text.is_empty() => Some(*value),
        Some(Value::Flags { text, .. }) | Some(Value::Str(text)) => Some(flags_from_text(text)),
        Some(v) => v.as_i64().and_then(|i| u64::try_from(i).ok()),
        None => Some(if ctx.ev.ty == "creat" { 0o1101 } else { 0 }),
    }
}

fn flags_from_text(text: &str) -> u64 {
    let mut v = 0;
    for t in text.split('|') {
        v |= match t.trim() {
            "O_WRONLY" => 1,
            "O_RDWR" => 2,
            "O_CREAT" => ferret_event::O_CREAT,
            "O_TRUNC" => 0o1000,
            "O_APPEND" => 0o2000,
            "O_DIRECTORY" => ferret_event::O_DIRECTORY,
            "O_CLOEXEC" => ferret_event::O_CLOEXEC,
            _ => 0,
        };
    }
    v
}

fn path_arg<'a>(ev: &'a Event, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| match ev.args.get(n) {
        Some(Value::Path(p)) | Some(Value::Str(p)) => Some(p.as_str()),
        _ => None,
    })
}

fn abs_path<'a>(ctx: &Ctx<'a>, raw: &'a str) -> Cow<'a, str> {
    if raw.starts_with('/') && !raw.contains("/.") && !raw.contains("//") {
        Cow::Borrowed(raw)
    } else {
        let cwd = ctx.view.proc.map_or("/", |p| p.cwd.as_str());
        Cow::Owned(ferret_event::normalize_path(cwd, raw))
    }
}

fn ancestor_val<'a>(id: Field, p: &'a Process) -> Option<Val<'a>> {
    match id {
        Field::ProcAname => nonempty(&p.name),
        Field::ProcApid => Some(Val::Int(p.pid)),
        Field::ProcAexe => nonempty(&p.exe),
        Field::ProcAexePath => nonempty(&p.exepath),
        _ => nonempty(&p.cmdline),
    }
}

fn sock_ends<'a>(fd: &FdView<'a>) -> Option<(Option<&'a SockAddr>, Option<&'a SockAddr>, bool)> {
    let s = fd.info.sock.as_ref()?;
    Some((s.local.as_ref(), s.remote.as_ref(), s.server_side))
}

/// Which endpoint an IP/port field reads.
#[derive(Clone, Copy)]
enum End {
    Client,
    Server,
    Local,
    Remote,
}

fn endpoint<'a>(fd: &FdView<'a>, end: End) -> Option<&'a SockAddr> {
    let (l, r, server) = sock_ends(fd)?;
    match end {
        End::Local => l,
        End::Remote => r,
        End::Client => {
            if server {
                r
            } else {
                l
            }
        }
        End::Server => {
            if server {
                l
            } else {
                r
            }
        }
    }
}

/// Calls `f` on each value of a multi-valued field until it returns true.
pub(crate) fn for_each_value<'a>(
    field: &'a FieldRef,
    ctx: &Ctx<'a>,
    f: &mut dyn FnMut(Val<'a>) -> bool,
) -> bool {
    match field.id {
        Field::ProcAname
        | Field::ProcApid
        | Field::ProcAexe
        | Field::ProcAexePath
        | Field::ProcAcmdline
            if field.is_multi() =>
        {
            let mut p = ctx.view.proc;
            // Bounded walk: a corrupt table can never loop forever.
            for _ in 0..64 {
                let Some(cur) = p.and_then(|c| ctx.view.state.parent(c)) else {
                    return false;
                };
                if let Some(v) = ancestor_val(field.id, cur)
                    && f(v)
                {
                    return true;
                }
                p = Some(cur);
            }
            false
        }
        Field::FdIp | Field::FdPort | Field::FdNet => {
            let Some(fd) = ctx.view.fd else { return false };
            for end in [End::Local, End::Remote] {
                if let Some(a) = endpoint(&fd, end) {
                    let v = if field.id == Field::FdPort {
                        a.port.map(|p| Val::Int(i64::from(p)))
                    } else {
                        a.ip.map(Val::Ip)
                    };
                    if let Some(v) = v
                        && f(v)
                    {
                        return true;
                    }
                }
            }
            false
        }
        Field::FdTypes => {
            let Some(p) = ctx.view.proc else { return false };
            p.fds
                .values()
                .any(|fd| f(Val::Str(Cow::Borrowed(fd.kind.type_name()))))
        }
        _ => extract(field, ctx).is_some_and(f),
    }
}

fn fd_name<'a>(ctx: &Ctx<'a>) -> Option<Val<'a>> {
    ctx.view.fd.and_then(|f| nonempty(&f.info.name))
}
fn fd_num<'a>(ctx: &Ctx<'a>) -> Option<Val<'a>> {
    ctx.view.fd.map(|f| Val::Int(f.num))
}
fn fd_typechar<'a>(ctx: &Ctx<'a>) -> Option<Val<'a>> {
    ctx.view
        .fd
        .map(|f| Val::Str(Cow::Borrowed(typechar_str(f.info.kind.type_char()))))
}
fn proc_name<'a>(ctx: &Ctx<'a>) -> Option<Val<'a>> {
    nonempty(&ctx.view.proc?.name)
}

/// Extracts a single-valued field; `None` when the event has no value for it. For
/// multi-valued references this yields the first value.
#[inline]
pub fn extract<'a>(field: &'a FieldRef, ctx: &Ctx<'a>) -> Option<Val<'a>> {
    // The fields most rule tests read, without a call into the large match below (whose
    // entry and exit cost more than these one-line lookups).
    match field.id {
        Field::FdName => fd_name(ctx),
        Field::ProcName => proc_name(ctx),
        Field::FdNum => fd_num(ctx),
        Field::FdTypeChar => fd_typechar(ctx),
        _ => extract_any(field, ctx),
    }
}

#[inline(never)]
fn extract_any<'a>(field: &'a FieldRef, ctx: &Ctx<'a>) -> Option<Val<'a>> {
    let ev = ctx.ev;
    let proc = ctx.view.proc;
    let fd = ctx.view.fd;
    match field.id {
        Field::Absent => None,
        // Numbering starts at 1, as in sysdig; an unnumbered event (0) counts as 1.
        Field::EvtNum => Some(Val::Int(i64::try_from(ev.num.max(1)).unwrap_or(i64::MAX))),
        Field::EvtTime => Some(Val::Str(Cow::Owned(format_time(ev.ts)))),
        Field::EvtTimeIso => Some(Val::Str(Cow::Owned(format_iso8601(ev.ts)))),
        Field::EvtRawTime => Some(Val::Int(i64::try_from(ev.ts).unwrap_or(i64::MAX))),
        Field::EvtType => s(&ev.ty),
        Field::EvtDir => s(ev.dir.as_str()),
        Field::EvtSource => s(ev.source.as_str()),
        Field::EvtCategory => s(category(&ev.ty)),
        Field::EvtRes => {
            let r = ev.ret?;
            match ev.errno() {
                Some(e) => Some(Val::Str(
                    errno_name(e).map_or_else(|| Cow::Owned(r.to_string()), Cow::Borrowed),
                )),
                None => s("SUCCESS"),
            }
        }
        Field::EvtRawRes => ev.ret.map(Val::Int),
        Field::EvtFailed => Some(Val::Bool(ev.failed())),
        Field::EvtArgs => {
            let mut out = String::new();
            for (i, a) in ev.args.0.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&a.name);
                out.push('=');
                a.value.render(&mut out);
            }
            if let Some(r) = ev.ret {
                if !out.is_empty() {
                    out.push(' ');
                }
                let _ = write!(out, "res={r}");
            }
            Some(Val::Str(Cow::Owned(out)))
        }
        Field::EvtArg | Field::EvtRawArg => match &field.arg {
            FieldArg::Name(n) => match ev.args.get(n) {
                Some(v) => Some(Val::Arg(v)),
                None if matches!(&**n, "res" | "fd" | "res_or_fd") => ev.ret.map(Val::Int),
                None => None,
            },
            FieldArg::Index(i) => ev.args.nth(*i).map(|a| Val::Arg(&a.value)),
            FieldArg::None => None,
        },
        Field::EvtIsOpenRead => open_flags(ctx).map(|v| Val::Bool(v & 3 != 1)),
        Field::EvtIsOpenWrite => open_flags(ctx).map(|v| Val::Bool(v & 3 != 0)),
        Field::EvtIsOpenExec => open_flags(ctx).map(|v| {
            let created = v & ferret_event::O_CREAT != 0;
            let mode = ev.args.get("mode");
            let exec = match mode {
                Some(Value::Flags { value, text }) => value & 0o111 != 0 || text.contains("S_IX"),
                Some(m) => m.as_i64().is_some_and(|m| m & 0o111 != 0),
                None => false,
            };
            Val::Bool(created && exec)
        }),
        Field::EvtHostname => nonempty(hostname()),
        Field::EvtBuffer => match ev.args.get("data") {
            Some(Value::Bytes(b)) => Some(Val::Str(String::from_utf8_lossy(b))),
            Some(Value::Str(t)) => s(t),
            _ => None,
        },
        Field::EvtBufLen => match ev.args.get("data") {
            Some(Value::Bytes(b)) => Some(Val::Int(i64::try_from(b.len()).unwrap_or(i64::MAX))),
            Some(Value::Str(t)) => Some(Val::Int(i64::try_from(t.len()).unwrap_or(i64::MAX))),
            _ => None,
        },
        Field::ProcPid | Field::ProcVpid => Some(Val::Int(ev.pid)),
        Field::ProcPpid => proc.filter(|p| p.ppid != 0).map(|p| Val::Int(p.ppid)),
        Field::ProcName => proc_name(ctx),
        Field::ProcExe => nonempty(&proc?.exe),
        Field::ProcExePath => nonempty(&proc?.exepath),
        Field::ProcCmdline => nonempty(&proc?.cmdline),
        Field::ProcArgs => proc
            .filter(|p| !p.name.is_empty())
            .map(|p| Val::Str(Cow::Borrowed(p.args_joined.as_str()))),
        Field::ProcCwd => nonempty(&proc?.cwd),
        Field::ProcEnv => {
            let p = proc?;
            match &field.arg {
                FieldArg::Name(k) => p
                    .env
                    .iter()
                    .find_map(|e| e.strip_prefix(&**k).and_then(|r| r.strip_prefix('=')))
                    .map(|v| Val::Str(Cow::Borrowed(v))),
                _ => Some(Val::Str(Cow::Owned(p.env.join(" ")))),
            }
        }
        Field::ProcPname => nonempty(&ctx.view.ancestor(1)?.name),
        Field::ProcPcmdline => nonempty(&ctx.view.ancestor(1)?.cmdline),
        Field::ProcPexe => nonempty(&ctx.view.ancestor(1)?.exe),
        Field::ProcPexePath => nonempty(&ctx.view.ancestor(1)?.exepath),
        Field::ProcPpidDuration => {
            let p = ctx.view.ancestor(1)?;
            (p.start_ts > 0).then(|| {
                Val::Int(i64::try_from(ev.ts.saturating_sub(p.start_ts)).unwrap_or(i64::MAX))
            })
        }
        Field::ProcAname
        | Field::ProcApid
        | Field::ProcAexe
        | Field::ProcAexePath
        | Field::ProcAcmdline => {
            let depth = match field.arg {
                FieldArg::Index(n) => n,
                _ => 1,
            };
            ancestor_val(field.id, ctx.view.ancestor(depth)?)
        }
        Field::ProcSid => proc.filter(|p| p.sid != 0).map(|p| Val::Int(p.sid)),
        Field::ProcSname | Field::ProcSidExe | Field::ProcSidExePath => {
            let leader = ctx.view.state.process(proc?.sid)?;
            match field.id {
                Field::ProcSname => nonempty(&leader.name),
                Field::ProcSidExe => nonempty(&leader.exe),
                _ => nonempty(&leader.exepath),
            }
        }
        Field::ProcVpgid => proc.filter(|p| p.pgid != 0).map(|p| Val::Int(p.pgid)),
        Field::ProcVpgidName | Field::ProcVpgidExe => {
            let leader = ctx.view.state.process(proc?.pgid)?;
            nonempty(if field.id == Field::ProcVpgidName {
                &leader.name
            } else {
                &leader.exe
            })
        }
        Field::ProcTty => proc.map(|p| Val::Int(i64::from(p.tty))),
        Field::ProcIsSidLeader => proc
            .filter(|p| p.sid != 0)
            .map(|p| Val::Bool(p.sid == p.pid)),
        Field::ProcIsVpgidLeader => proc
            .filter(|p| p.pgid != 0)
            .map(|p| Val::Bool(p.pgid == p.pid)),
        Field::ProcIsExeUpperLayer => proc.map(|_| Val::Bool(false)),
        Field::ProcIsExeFromMemfd => proc.map(|p| Val::Bool(p.exe_from_memfd)),
        Field::ProcDuration => {
            let p = proc?;
            (p.start_ts > 0).then(|| {
                Val::Int(i64::try_from(ev.ts.saturating_sub(p.start_ts)).unwrap_or(i64::MAX))
            })
        }
        Field::ProcStartTs => proc
            .filter(|p| p.start_ts > 0)
            .map(|p| Val::Int(i64::try_from(p.start_ts).unwrap_or(i64::MAX))),
        Field::ThreadTid | Field::ThreadVtid => Some(Val::Int(ev.tid)),
        Field::UserUid => proc
            .filter(|p| p.uid != u32::MAX)
            .map(|p| Val::Int(i64::from(p.uid))),
        Field::UserName => {
            user_name(proc.filter(|p| p.uid != u32::MAX)?.uid).map(|n| Val::Str(Cow::Borrowed(n)))
        }
        Field::UserHomedir | Field::UserShell => {
            let uid = proc.filter(|p| p.uid != u32::MAX)?.uid;
            let u = users().get(&uid)?;
            nonempty(if field.id == Field::UserHomedir {
                &u.1
            } else {
                &u.2
            })
        }
        Field::UserLoginUid => proc.map(|p| {
            Val::Int(if p.loginuid == u32::MAX {
                -1
            } else {
                i64::from(p.loginuid)
            })
        }),
        Field::UserLoginName => {
            let p = proc.filter(|p| p.loginuid != u32::MAX)?;
            user_name(p.loginuid).map(|n| Val::Str(Cow::Borrowed(n)))
        }
        Field::GroupGid => proc
            .filter(|p| p.gid != u32::MAX)
            .map(|p| Val::Int(i64::from(p.gid))),
        Field::GroupName => {
            let gid = proc.filter(|p| p.gid != u32::MAX)?.gid;
            if gid == 0 {
                return s("root");
            }
            groups()
                .get(&gid)
                .map(|g| Val::Str(Cow::Borrowed(g.0.as_str())))
        }
        Field::FdNum => fd_num(ctx),
        Field::FdName => fd_name(ctx),
        Field::FdNameRaw => fd.and_then(|f| {
            nonempty(if f.info.name_raw.is_empty() {
                &f.info.name
            } else {
                &f.info.name_raw
            })
        }),
        Field::FdType => fd.map(|f| Val::Str(Cow::Borrowed(f.info.kind.type_name()))),
        Field::FdTypeChar => fd_typechar(ctx),
        Field::FdDirectory | Field::FdFilename => {
            let f = fd?;
            if !matches!(
                f.info.kind,
                ferret_event::FdKind::File | ferret_event::FdKind::Directory
            ) {
                return None;
            }
            let name = f.info.name.as_str();
            if f.info.kind == ferret_event::FdKind::Directory {
                return if field.id == Field::FdDirectory {
                    nonempty(name)
                } else {
                    None
                };
            }
            let cut = memchr::memrchr(b'/', name.as_bytes())?;
            if field.id == Field::FdDirectory {
                s(if cut == 0 { "/" } else { &name[..cut] })
            } else {
                nonempty(&name[cut + 1..])
            }
        }
        Field::FdCip
        | Field::FdSip
        | Field::FdLip
        | Field::FdRip
        | Field::FdCnet
        | Field::FdSnet
        | Field::FdLnet
        | Field::FdRnet => {
            let end = match field.id {
                Field::FdCip | Field::FdCnet => End::Client,
                Field::FdSip | Field::FdSnet => End::Server,
                Field::FdLip | Field::FdLnet => End::Local,
                _ => End::Remote,
            };
            endpoint(&fd?, end)?.ip.map(Val::Ip)
        }
        Field::FdCport | Field::FdSport | Field::FdLport | Field::FdRport => {
            let end = match field.id {
                Field::FdCport => End::Client,
                Field::FdSport => End::Server,
                Field::FdLport => End::Local,
                _ => End::Remote,
            };
            endpoint(&fd?, end)?.port.map(|p| Val::Int(i64::from(p)))
        }
        Field::FdIp | Field::FdPort | Field::FdNet | Field::FdTypes => {
            let mut first = None;
            for_each_value(field, ctx, &mut |v| {
                first = Some(v);
                true
            });
            first
        }
        Field::FdL4Proto => fd?
            .info
            .sock
            .as_ref()
            .map(|s| Val::Str(Cow::Borrowed(s.l4.name()))),
        Field::FdSockFamily => {
            let f = fd?;
            f.info.sock.as_ref()?;
            s(if f.info.kind.is_ip() {
                "ip"
            } else if f.info.kind == ferret_event::FdKind::Unix {
                "unix"
            } else {
                f.info.kind.type_name()
            })
        }
        Field::FdIsServer => fd?.info.sock.as_ref().map(|s| Val::Bool(s.server_side)),
        Field::FdConnected => fd?.info.sock.as_ref().map(|s| Val::Bool(s.connected)),
        Field::FdNameChanged => fd.map(|f| Val::Bool(f.info.name_changed)),
        Field::FsPathName | Field::FsPathNameRaw => {
            let raw = path_arg(ev, &["path", "pathname", "name", "filename"])?;
            if field.id == Field::FsPathNameRaw {
                s(raw)
            } else {
                Some(Val::Str(abs_path(ctx, raw)))
            }
        }
        Field::FsPathSource | Field::FsPathSourceRaw => {
            let raw = path_arg(ev, &["oldpath", "target", "source"])?;
            if field.id == Field::FsPathSourceRaw {
                s(raw)
            } else {
                Some(Val::Str(abs_path(ctx, raw)))
            }
        }
        Field::FsPathTarget | Field::FsPathTargetRaw => {
            let raw = path_arg(ev, &["newpath", "linkpath"])?;
            if field.id == Field::FsPathTargetRaw {
                s(raw)
            } else {
                Some(Val::Str(abs_path(ctx, raw)))
            }
        }
    }
}

fn typechar_str(c: char) -> &'static str {
    match c {
        'f' => "f",
        'd' => "d",
        '4' => "4",
        '6' => "6",
        'u' => "u",
        'n' => "n",
        'k' => "k",
        'p' => "p",
        'm' => "m",
        'e' => "e",
        's' => "s",
        'l' => "l",
        'i' => "i",
        't' => "t",
        'b' => "b",
        'P' => "P",
        _ => "o",
    }
}
