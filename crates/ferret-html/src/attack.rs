//! MITRE ATT&CK (Enterprise) technique names for the ids ferret's rules and Falco rules
//! use on Linux, so the report can name a technique rather than show a bare id.

/// Sorted by id (checked by a test) for binary search.
const TECHNIQUES: &[(&str, &str)] = &[
    ("T1001", "Data Obfuscation"),
    ("T1003", "OS Credential Dumping"),
    ("T1003.007", "OS Credential Dumping: Proc Filesystem"),
    (
        "T1003.008",
        "OS Credential Dumping: /etc/passwd and /etc/shadow",
    ),
    ("T1005", "Data from Local System"),
    ("T1007", "System Service Discovery"),
    ("T1014", "Rootkit"),
    ("T1016", "System Network Configuration Discovery"),
    ("T1018", "Remote System Discovery"),
    ("T1021", "Remote Services"),
    ("T1021.004", "Remote Services: SSH"),
    ("T1027", "Obfuscated Files or Information"),
    (
        "T1027.002",
        "Obfuscated Files or Information: Software Packing",
    ),
    (
        "T1027.004",
        "Obfuscated Files or Information: Compile After Delivery",
    ),
    (
        "T1027.009",
        "Obfuscated Files or Information: Embedded Payloads",
    ),
    ("T1033", "System Owner/User Discovery"),
    ("T1036", "Masquerading"),
    ("T1036.004", "Masquerading: Masquerade Task or Service"),
    (
        "T1036.005",
        "Masquerading: Match Legitimate Name or Location",
    ),
    ("T1036.006", "Masquerading: Space after Filename"),
    ("T1037", "Boot or Logon Initialization Scripts"),
    (
        "T1037.004",
        "Boot or Logon Initialization Scripts: RC Scripts",
    ),
    ("T1040", "Network Sniffing"),
    ("T1041", "Exfiltration Over C2 Channel"),
    ("T1046", "Network Service Discovery"),
    ("T1048", "Exfiltration Over Alternative Protocol"),
    ("T1049", "System Network Connections Discovery"),
    ("T1053", "Scheduled Task/Job"),
    ("T1053.002", "Scheduled Task/Job: At"),
    ("T1053.003", "Scheduled Task/Job: Cron"),
    ("T1053.006", "Scheduled Task/Job: Systemd Timers"),
    ("T1055", "Process Injection"),
    ("T1055.008", "Process Injection: Ptrace System Calls"),
    ("T1055.009", "Process Injection: Proc Memory"),
    ("T1056", "Input Capture"),
    ("T1056.001", "Input Capture: Keylogging"),
    ("T1057", "Process Discovery"),
    ("T1059", "Command and Scripting Interpreter"),
    ("T1059.004", "Command and Scripting Interpreter: Unix Shell"),
    ("T1059.006", "Command and Scripting Interpreter: Python"),
    ("T1068", "Exploitation for Privilege Escalation"),
    ("T1069", "Permission Groups Discovery"),
    ("T1070", "Indicator Removal"),
    (
        "T1070.002",
        "Indicator Removal: Clear Linux or Mac System Logs",
    ),
    ("T1070.003", "Indicator Removal: Clear Command History"),
    ("T1070.004", "Indicator Removal: File Deletion"),
    ("T1070.006", "Indicator Removal: Timestomp"),
    ("T1071", "Application Layer Protocol"),
    ("T1071.001", "Application Layer Protocol: Web Protocols"),
    ("T1071.004", "Application Layer Protocol: DNS"),
    ("T1078", "Valid Accounts"),
    ("T1082", "System Information Discovery"),
    ("T1083", "File and Directory Discovery"),
    ("T1087", "Account Discovery"),
    ("T1087.001", "Account Discovery: Local Account"),
    ("T1090", "Proxy"),
    ("T1095", "Non-Application Layer Protocol"),
    ("T1098", "Account Manipulation"),
    ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
    ("T1105", "Ingress Tool Transfer"),
    ("T1106", "Native API"),
    ("T1110", "Brute Force"),
    ("T1110.001", "Brute Force: Password Guessing"),
    ("T1129", "Shared Modules"),
    ("T1132", "Data Encoding"),
    ("T1136", "Create Account"),
    ("T1136.001", "Create Account: Local Account"),
    ("T1140", "Deobfuscate/Decode Files or Information"),
    ("T1190", "Exploit Public-Facing Application"),
    ("T1204", "User Execution"),
    ("T1204.002", "User Execution: Malicious File"),
    ("T1210", "Exploitation of Remote Services"),
    ("T1219", "Remote Access Software"),
    ("T1222", "File and Directory Permissions Modification"),
    (
        "T1222.002",
        "File and Directory Permissions Modification: Linux and Mac File and Directory Permissions Modification",
    ),
    ("T1480", "Execution Guardrails"),
    ("T1485", "Data Destruction"),
    ("T1486", "Data Encrypted for Impact"),
    ("T1489", "Service Stop"),
    ("T1490", "Inhibit System Recovery"),
    ("T1496", "Resource Hijacking"),
    ("T1497", "Virtualization/Sandbox Evasion"),
    ("T1497.001", "Virtualization/Sandbox Evasion: System Checks"),
    (
        "T1497.003",
        "Virtualization/Sandbox Evasion: Time Based Evasion",
    ),
    ("T1498", "Network Denial of Service"),
    ("T1499", "Endpoint Denial of Service"),
    ("T1505", "Server Software Component"),
    ("T1505.003", "Server Software Component: Web Shell"),
    ("T1518", "Software Discovery"),
    (
        "T1518.001",
        "Software Discovery: Security Software Discovery",
    ),
    ("T1529", "System Shutdown/Reboot"),
    ("T1543", "Create or Modify System Process"),
    (
        "T1543.002",
        "Create or Modify System Process: Systemd Service",
    ),
    ("T1546", "Event Triggered Execution"),
    (
        "T1546.004",
        "Event Triggered Execution: Unix Shell Configuration Modification",
    ),
    ("T1547", "Boot or Logon Autostart Execution"),
    (
        "T1547.006",
        "Boot or Logon Autostart Execution: Kernel Modules and Extensions",
    ),
    ("T1548", "Abuse Elevation Control Mechanism"),
    (
        "T1548.001",
        "Abuse Elevation Control Mechanism: Setuid and Setgid",
    ),
    (
        "T1548.003",
        "Abuse Elevation Control Mechanism: Sudo and Sudo Caching",
    ),
    ("T1552", "Unsecured Credentials"),
    ("T1552.001", "Unsecured Credentials: Credentials In Files"),
    ("T1552.004", "Unsecured Credentials: Private Keys"),
    ("T1554", "Compromise Host Software Binary"),
    ("T1555", "Credentials from Password Stores"),
    ("T1556", "Modify Authentication Process"),
    ("T1560", "Archive Collected Data"),
    ("T1562", "Impair Defenses"),
    ("T1562.001", "Impair Defenses: Disable or Modify Tools"),
    (
        "T1562.004",
        "Impair Defenses: Disable or Modify System Firewall",
    ),
    ("T1562.006", "Impair Defenses: Indicator Blocking"),
    ("T1564", "Hide Artifacts"),
    ("T1564.001", "Hide Artifacts: Hidden Files and Directories"),
    ("T1565", "Data Manipulation"),
    ("T1568", "Dynamic Resolution"),
    (
        "T1568.002",
        "Dynamic Resolution: Domain Generation Algorithms",
    ),
    ("T1571", "Non-Standard Port"),
    ("T1572", "Protocol Tunneling"),
    ("T1573", "Encrypted Channel"),
    ("T1574", "Hijack Execution Flow"),
    (
        "T1574.006",
        "Hijack Execution Flow: Dynamic Linker Hijacking",
    ),
    ("T1611", "Escape to Host"),
    ("T1613", "Container and Resource Discovery"),
    ("T1620", "Reflective Code Loading"),
    ("T1622", "Debugger Evasion"),
];

/// The technique (or `Technique: Sub-technique`) name of an ATT&CK id, when known.
pub fn technique_name(id: &str) -> Option<&'static str> {
    TECHNIQUES
        .binary_search_by(|(k, _)| (*k).cmp(id))
        .ok()
        .and_then(|i| TECHNIQUES.get(i))
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in TECHNIQUES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn names_known_ids_only() {
        assert_eq!(
            technique_name("T1574.006"),
            Some("Hijack Execution Flow: Dynamic Linker Hijacking")
        );
        assert_eq!(
            technique_name("T1053.003"),
            Some("Scheduled Task/Job: Cron")
        );
        assert_eq!(technique_name("T9999"), None);
        assert_eq!(technique_name(""), None);
    }

    #[test]
    fn every_id_in_the_bundled_rules_is_named() {
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/ferret_rules.yaml");
        let Ok(text) = std::fs::read_to_string(rules) else {
            panic!("cannot read {rules}");
        };
        let mut missing = Vec::new();
        for (i, _) in text.match_indices("T1") {
            let id: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            let well_formed =
                id.len() == 5 || (id.len() == 9 && id.as_bytes().get(5) == Some(&b'.'));
            if well_formed
                && id[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && technique_name(&id).is_none()
            {
                missing.push(id);
            }
        }
        assert!(missing.is_empty(), "ATT&CK ids without a name: {missing:?}");
    }
}
