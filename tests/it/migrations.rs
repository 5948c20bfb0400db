//! Migrations: mirrored folders, and every migration up, down and up again on both backends.

use crate::both_backends;

#[test]
fn migration_folders_mirror_each_other() {
    let names = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("migrations/sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("migrations/postgres"));
    for n in &sqlite {
        for b in ["sqlite", "postgres"] {
            for f in ["up.sql", "down.sql"] {
                assert!(std::path::Path::new(&format!("migrations/{b}/{n}/{f}")).exists(), "{b}/{n}/{f}");
            }
        }
    }
}

both_backends!(migrations_run_up_down_up, |app| {
    let mut conn = app.conn();
    let (applied, pending) = keel::db::migration_status(&mut conn).unwrap();
    assert!(!pending);
    let reverted = keel::db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted, applied);
    assert_eq!(keel::db::migration_status(&mut conn).unwrap().0, 0);
    let again = keel::db::run_migrations(&mut conn).unwrap();
    assert_eq!(again.len(), applied);
    assert!(keel::db::run_migrations(&mut conn).unwrap().is_empty(), "a second run applies nothing");
});
