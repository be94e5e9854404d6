//! Record-type numbers, audit architectures, syscall names and signal names.

use std::collections::HashMap;
use std::sync::OnceLock;

use ferret_syscalls::Table;

/// Known audit record types (`linux/audit.h` and libaudit's user-space types), by name.
static RECORD_TYPES: &[(&str, u32)] = &[
    ("GET", 1000),
    ("SET", 1001),
    ("LIST", 1002),
    ("ADD", 1003),
    ("DEL", 1004),
    ("USER", 1005),
    ("LOGIN", 1006),
    ("WATCH_INS", 1007),
    ("WATCH_REM", 1008),
    ("WATCH_LIST", 1009),
    ("SIGNAL_INFO", 1010),
    ("ADD_RULE", 1011),
    ("DEL_RULE", 1012),
    ("LIST_RULES", 1013),
    ("TRIM", 1014),
    ("MAKE_EQUIV", 1015),
    ("TTY_GET", 1016),
    ("TTY_SET", 1017),
    ("SET_FEATURE", 1018),
    ("GET_FEATURE", 1019),
    ("USER_AUTH", 1100),
    ("USER_ACCT", 1101),
    ("USER_MGMT", 1102),
    ("CRED_ACQ", 1103),
    ("CRED_DISP", 1104),
    ("USER_START", 1105),
    ("USER_END", 1106),
    ("USER_AVC", 1107),
    ("USER_CHAUTHTOK", 1108),
    ("USER_ERR", 1109),
    ("CRED_REFR", 1110),
    ("USYS_CONFIG", 1111),
    ("USER_LOGIN", 1112),
    ("USER_LOGOUT", 1113),
    ("ADD_USER", 1114),
    ("DEL_USER", 1115),
    ("ADD_GROUP", 1116),
    ("DEL_GROUP", 1117),
    ("DAC_CHECK", 1118),
    ("CHGRP_ID", 1119),
    ("TEST", 1120),
    ("TRUSTED_APP", 1121),
    ("USER_SELINUX_ERR", 1122),
    ("USER_CMD", 1123),
    ("USER_TTY", 1124),
    ("CHUSER_ID", 1125),
    ("GRP_AUTH", 1126),
    ("SYSTEM_BOOT", 1127),
    ("SYSTEM_SHUTDOWN", 1128),
    ("SYSTEM_RUNLEVEL", 1129),
    ("SERVICE_START", 1130),
    ("SERVICE_STOP", 1131),
    ("GRP_MGMT", 1132),
    ("GRP_CHAUTHTOK", 1133),
    ("MAC_CHECK", 1134),
    ("ACCT_LOCK", 1135),
    ("ACCT_UNLOCK", 1136),
    ("USER_DEVICE", 1137),
    ("SOFTWARE_UPDATE", 1138),
    ("DAEMON_START", 1200),
    ("DAEMON_END", 1201),
    ("DAEMON_ABORT", 1202),
    ("DAEMON_CONFIG", 1203),
    ("DAEMON_RECONFIG", 1204),
    ("DAEMON_ROTATE", 1205),
    ("DAEMON_RESUME", 1206),
    ("DAEMON_ACCEPT", 1207),
    ("DAEMON_CLOSE", 1208),
    ("DAEMON_ERR", 1209),
    ("SYSCALL", 1300),
    ("FS_WATCH", 1301),
    ("PATH", 1302),
    ("IPC", 1303),
    ("SOCKETCALL", 1304),
    ("CONFIG_CHANGE", 1305),
    ("SOCKADDR", 1306),
    ("CWD", 1307),
    ("FS_INODE", 1308),
    ("EXECVE", 1309),
    ("IPC_SET_PERM", 1311),
    ("MQ_OPEN", 1312),
    ("MQ_SENDRECV", 1313),
    ("MQ_NOTIFY", 1314),
    ("MQ_GETSETATTR", 1315),
    ("KERNEL_OTHER", 1316),
    ("FD_PAIR", 1317),
    ("OBJ_PID", 1318),
    ("TTY", 1319),
    ("EOE", 1320),
    ("BPRM_FCAPS", 1321),
    ("CAPSET", 1322),
    ("MMAP", 1323),
    ("NETFILTER_PKT", 1324),
    ("NETFILTER_CFG", 1325),
    ("SECCOMP", 1326),
    ("PROCTITLE", 1327),
    ("FEATURE_CHANGE", 1328),
    ("REPLACE", 1329),
    ("KERN_MODULE", 1330),
    ("FANOTIFY", 1331),
    ("TIME_INJOFFSET", 1332),
    ("TIME_ADJNTPVAL", 1333),
    ("BPF", 1334),
    ("EVENT_LISTENER", 1335),
    ("URINGOP", 1336),
    ("OPENAT2", 1337),
    ("DM_CTRL", 1338),
    ("DM_EVENT", 1339),
    ("AVC", 1400),
    ("SELINUX_ERR", 1401),
    ("AVC_PATH", 1402),
    ("MAC_POLICY_LOAD", 1403),
    ("MAC_STATUS", 1404),
    ("MAC_CONFIG_CHANGE", 1405),
    ("MAC_UNLBL_ALLOW", 1406),
    ("MAC_CIPSOV4_ADD", 1407),
    ("MAC_CIPSOV4_DEL", 1408),
    ("MAC_MAP_ADD", 1409),
    ("MAC_MAP_DEL", 1410),
    ("MAC_IPSEC_ADDSA", 1411),
    ("MAC_IPSEC_DELSA", 1412),
    ("MAC_IPSEC_ADDSPD", 1413),
    ("MAC_IPSEC_DELSPD", 1414),
    ("MAC_IPSEC_EVENT", 1415),
    ("MAC_UNLBL_STCADD", 1416),
    ("MAC_UNLBL_STCDEL", 1417),
    ("MAC_CALIPSO_ADD", 1418),
    ("MAC_CALIPSO_DEL", 1419),
    ("ANOM_PROMISCUOUS", 1700),
    ("ANOM_ABEND", 1701),
    ("ANOM_LINK", 1702),
    ("ANOM_CREAT", 1703),
    ("INTEGRITY_DATA", 1800),
    ("INTEGRITY_METADATA", 1801),
    ("INTEGRITY_STATUS", 1802),
    ("INTEGRITY_HASH", 1803),
    ("INTEGRITY_PCR", 1804),
    ("INTEGRITY_RULE", 1805),
    ("INTEGRITY_EVM_XATTR", 1806),
    ("INTEGRITY_POLICY_RULE", 1807),
    ("KERNEL", 2000),
    ("ANOM_LOGIN_FAILURES", 2100),
    ("ANOM_LOGIN_TIME", 2101),
    ("ANOM_LOGIN_SESSIONS", 2102),
    ("ANOM_LOGIN_ACCT", 2103),
    ("ANOM_LOGIN_LOCATION", 2104),
    ("ANOM_MAX_DAC", 2105),
    ("ANOM_MAX_MAC", 2106),
    ("ANOM_AMTU_FAIL", 2107),
    ("ANOM_RBAC_FAIL", 2108),
    ("ANOM_RBAC_INTEGRITY_FAIL", 2109),
    ("ANOM_CRYPTO_FAIL", 2110),
    ("ANOM_ACCESS_FS", 2111),
    ("ANOM_EXEC", 2112),
    ("ANOM_MK_EXEC", 2113),
    ("ANOM_ADD_ACCT", 2114),
    ("ANOM_DEL_ACCT", 2115),
    ("ANOM_MOD_ACCT", 2116),
    ("ANOM_ROOT_TRANS", 2117),
    ("ANOM_LOGIN_SERVICE", 2118),
    ("ANOM_LOGIN_ROOT", 2119),
    ("ANOM_ORIGIN_FAILURES", 2120),
    ("ANOM_SESSION", 2121),
    ("RESP_ANOMALY", 2200),
    ("RESP_ALERT", 2201),
    ("RESP_KILL_PROC", 2202),
    ("RESP_TERM_ACCESS", 2203),
    ("RESP_ACCT_REMOTE", 2204),
    ("RESP_ACCT_LOCK_TIMED", 2205),
    ("RESP_ACCT_UNLOCK_TIMED", 2206),
    ("RESP_ACCT_LOCK", 2207),
    ("RESP_TERM_LOCK", 2208),
    ("RESP_SEBOOL", 2209),
    ("RESP_EXEC", 2210),
    ("RESP_SINGLE", 2211),
    ("RESP_HALT", 2212),
    ("RESP_ORIGIN_BLOCK", 2213),
    ("RESP_ORIGIN_BLOCK_TIMED", 2214),
    ("USER_ROLE_CHANGE", 2300),
    ("ROLE_ASSIGN", 2301),
    ("ROLE_REMOVE", 2302),
    ("LABEL_OVERRIDE", 2303),
    ("LABEL_LEVEL_CHANGE", 2304),
    ("USER_LABELED_EXPORT", 2305),
    ("USER_UNLABELED_EXPORT", 2306),
    ("DEV_ALLOC", 2307),
    ("DEV_DEALLOC", 2308),
    ("FS_RELABEL", 2309),
    ("USER_MAC_POLICY_LOAD", 2310),
    ("ROLE_MODIFY", 2311),
    ("USER_MAC_CONFIG_CHANGE", 2312),
    ("USER_MAC_STATUS", 2313),
    ("CRYPTO_TEST_USER", 2400),
    ("CRYPTO_PARAM_CHANGE_USER", 2401),
    ("CRYPTO_LOGIN", 2402),
    ("CRYPTO_LOGOUT", 2403),
    ("CRYPTO_KEY_USER", 2404),
    ("CRYPTO_FAILURE_USER", 2405),
    ("CRYPTO_REPLAY_USER", 2406),
    ("CRYPTO_SESSION", 2407),
    ("CRYPTO_IKE_SA", 2408),
    ("CRYPTO_IPSEC_SA", 2409),
    ("VIRT_CONTROL", 2500),
    ("VIRT_RESOURCE", 2501),
    ("VIRT_MACHINE_ID", 2502),
    ("VIRT_INTEGRITY_CHECK", 2503),
    ("VIRT_CREATE", 2504),
    ("VIRT_DESTROY", 2505),
    ("VIRT_MIGRATE_IN", 2506),
    ("VIRT_MIGRATE_OUT", 2507),
];

/// The number of a record type given by name (`SYSCALL` → 1300), or by auditd's spelling
/// for types it did not know (`UNKNOWN[1329]` → 1329).
pub fn record_type_number(name: &str) -> Option<u32> {
    if let Some(n) = name
        .strip_prefix("UNKNOWN[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return n.parse().ok();
    }
    static BY_NAME: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| RECORD_TYPES.iter().copied().collect())
        .get(name)
        .copied()
}

/// The name of a record type number (1300 → `SYSCALL`).
pub fn record_type_name(num: u32) -> Option<&'static str> {
    RECORD_TYPES
        .iter()
        .find(|&&(_, v)| v == num)
        .map(|&(n, _)| n)
}

/// Whether records of this type form an event on their own. User-space messages
/// (1100-1299, 2100-2999) are written by one `audit_log_user_message` call and never get
/// companions; kernel records (SYSCALL, PATH, AVC...) wait for their event's end.
pub fn is_standalone(num: u32) -> bool {
    (1100..=1299).contains(&num) || (2100..=2999).contains(&num)
}

/// An audit architecture (`AUDIT_ARCH_*`, the `arch=` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (`c000003e`).
    X86_64,
    /// 32-bit x86 (`40000003`).
    I386,
    /// 64-bit ARM (`c00000b7`).
    Aarch64,
    /// 32-bit ARM EABI, little endian (`40000028`).
    Arm,
    /// 32-bit ARM EABI, big endian (`28`).
    Armeb,
    /// 32-bit PowerPC (`14`).
    Ppc,
    /// 64-bit PowerPC, big endian (`80000015`).
    Ppc64,
    /// 64-bit PowerPC, little endian (`c0000015`).
    Ppc64le,
    /// 31-bit s390 (`16`).
    S390,
    /// 64-bit s390 (`80000016`).
    S390x,
    /// MIPS o32, big endian (`8`).
    Mips,
    /// MIPS o32, little endian (`40000008`).
    Mipsel,
    /// MIPS n64, big endian (`80000008`).
    Mips64,
    /// MIPS n64, little endian (`c0000008`).
    Mips64el,
    /// 64-bit RISC-V (`c00000f3`).
    Riscv64,
}

impl Arch {
    /// Parses the hexadecimal `arch=` value.
    pub fn from_audit(hex: &str) -> Option<Arch> {
        let v = u32::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?;
        Some(match v {
            0xc000_003e => Arch::X86_64,
            0x4000_0003 => Arch::I386,
            0xc000_00b7 => Arch::Aarch64,
            0x4000_0028 => Arch::Arm,
            0x0000_0028 => Arch::Armeb,
            0x0000_0014 => Arch::Ppc,
            0x8000_0015 => Arch::Ppc64,
            0xc000_0015 => Arch::Ppc64le,
            0x0000_0016 => Arch::S390,
            0x8000_0016 => Arch::S390x,
            0x0000_0008 => Arch::Mips,
            0x4000_0008 => Arch::Mipsel,
            0x8000_0008 => Arch::Mips64,
            0xc000_0008 => Arch::Mips64el,
            0xc000_00f3 => Arch::Riscv64,
            _ => return None,
        })
    }

    /// The name ausearch prints (`x86_64`, `i386`, `aarch64`...).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Arm => "arm",
            Arch::Armeb => "armeb",
            Arch::Ppc => "ppc",
            Arch::Ppc64 => "ppc64",
            Arch::Ppc64le => "ppc64le",
            Arch::S390 => "s390",
            Arch::S390x => "s390x",
            Arch::Mips => "mips",
            Arch::Mipsel => "mipsel",
            Arch::Mips64 => "mips64",
            Arch::Mips64el => "mips64el",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The syscall numbering of this architecture, if ferret has one.
    fn table(self) -> Option<Table> {
        Some(match self {
            Arch::X86_64 => Table::X86_64,
            Arch::I386 => Table::I386,
            // RISC-V uses the generic table as arm64 does.
            Arch::Aarch64 | Arch::Riscv64 => Table::Generic,
            Arch::Arm | Arch::Armeb => Table::Arm,
            // ppc64 shares the numbering of 32-bit ppc.
            Arch::Ppc | Arch::Ppc64 | Arch::Ppc64le => Table::Ppc,
            Arch::Mips | Arch::Mipsel => Table::MipsO32,
            Arch::S390 | Arch::S390x | Arch::Mips64 | Arch::Mips64el => return None,
        })
    }

    /// The syscall name for `num` on this architecture.
    pub fn syscall_name(self, num: u32) -> Option<&'static str> {
        self.table()?.name(u64::from(num))
    }
}

/// The name of signal `num` (`31` → `SIGSYS`).
pub use ferret_syscalls::signal_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_tables() {
        let x = Arch::from_audit("c000003e").map(|a| (a.name(), a.syscall_name(59)));
        assert_eq!(x, Some(("x86_64", Some("execve"))));
        assert_eq!(Arch::I386.syscall_name(132), Some("getpgid"));
        assert_eq!(Arch::Aarch64.syscall_name(221), Some("execve"));
        assert_eq!(Arch::Arm.syscall_name(283), Some("connect"));
        assert_eq!(Arch::Ppc64le.syscall_name(11), Some("execve"));
        assert_eq!(Arch::Mipsel.syscall_name(4011), Some("execve"));
        assert_eq!(Arch::X86_64.syscall_name(100_000), None);
        assert_eq!(Arch::from_audit("zz"), None);
    }

    #[test]
    fn record_types() {
        assert_eq!(record_type_number("SYSCALL"), Some(1300));
        assert_eq!(record_type_number("UNKNOWN[1329]"), Some(1329));
        assert_eq!(record_type_name(1327), Some("PROCTITLE"));
        assert!(is_standalone(1112));
        assert!(!is_standalone(1300));
        assert_eq!(signal_name(31), Some("SIGSYS"));
    }
}
