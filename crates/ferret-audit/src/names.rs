//! User and group names for uid/gid fields, from passwd/group files.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

/// Fields holding user ids.
const UID_FIELDS: &[&str] = &[
    "uid",
    "euid",
    "suid",
    "fsuid",
    "auid",
    "ouid",
    "old-auid",
    "iuid",
    "ouid",
    "sauid",
    "inode_uid",
];
/// Fields holding group ids.
const GID_FIELDS: &[&str] = &["gid", "egid", "sgid", "fsgid", "ogid", "igid", "inode_gid"];

/// uid → user name and gid → group name maps.
#[derive(Debug, Clone, Default)]
pub struct IdNames {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl IdNames {
    /// Reads `passwd` and/or `group` files (`name:x:id:...` lines; others are skipped).
    pub fn load(passwd: Option<&Path>, group: Option<&Path>) -> io::Result<IdNames> {
        let mut n = IdNames::default();
        if let Some(p) = passwd {
            n.users = parse_db(&fs::read_to_string(p)?);
        }
        if let Some(g) = group {
            n.groups = parse_db(&fs::read_to_string(g)?);
        }
        Ok(n)
    }

    /// Whether no names are known.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// The name for field `field` holding `value`, if it is an id field with a known id.
    pub fn name_for(&self, field: &str, value: &str) -> Option<&str> {
        let map = if UID_FIELDS.contains(&field) {
            &self.users
        } else if GID_FIELDS.contains(&field) {
            &self.groups
        } else {
            return None;
        };
        let id: u32 = value.parse().ok()?;
        map.get(&id).map(String::as_str)
    }
}

fn parse_db(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split(':');
            let name = it.next()?;
            let _pw = it.next()?;
            let id = it.next()?.parse().ok()?;
            (!name.is_empty()).then(|| (id, name.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = IdNames {
            users: parse_db(
                "root:x:0:0:root:/root:/bin/bash\nbad line\nbob:x:1000:1000::/:/bin/sh\n",
            ),
            groups: parse_db("wheel:x:10:bob\n"),
        };
        assert_eq!(n.name_for("auid", "1000"), Some("bob"));
        assert_eq!(n.name_for("uid", "0"), Some("root"));
        assert_eq!(n.name_for("egid", "10"), Some("wheel"));
        assert_eq!(n.name_for("pid", "0"), None);
        assert_eq!(n.name_for("uid", "unset"), None);
    }
}
