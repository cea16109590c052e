//! `take`, `put_if_absent` and `compare_and_swap` across real processes: this test binary re-executed
//! four times with `MCP_AUTH_FILE_RACE_CHILD` set, all racing over one directory.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use mcp_auth_core::store::{KeyPage, KvStorage};
use mcp_auth_store_file::FileStore;

const CHILD_VAR: &str = "MCP_AUTH_FILE_RACE_CHILD";
const PROCESSES: usize = 4;
const CODES: usize = 200;

/// In a child: race for every code with `take`, for every slot with `put_if_absent`, and for every round
/// of two compare-and-swap races (one over a present value, one over a free key), then print what this
/// process won. Run normally it checks the output parser.
#[test]
fn race_child() {
    if let Ok(spec) = std::env::var(CHILD_VAR) {
        let mut parts = spec.split('|');
        let (dir, me, start_ms) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        // Every process starts racing at the same wall-clock moment.
        let start = std::time::UNIX_EPOCH + std::time::Duration::from_millis(start_ms.parse().unwrap());
        if let Ok(wait) = start.duration_since(std::time::SystemTime::now()) {
            std::thread::sleep(wait);
        }
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let won = runtime.block_on(race(Path::new(dir), me));
        println!("RESULT {won}");
        return;
    }
    assert_eq!(parse("noise\nRESULT t:1,t:7,p:3,s:2,n:4\n"), vec!["t:1", "t:7", "p:3", "s:2", "n:4"]);
    assert_eq!(parse("test race_child ... RESULT p:2\nok\n"), vec!["p:2"]);
    assert!(parse("no result line").is_empty());
    assert!(parse("RESULT \n").is_empty());
}

async fn race(dir: &Path, me: &str) -> String {
    let store = FileStore::builder(dir).sweep_interval(None).open().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..CODES {
        let store = store.clone();
        let me = me.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            if store.take("codes", &format!("code-{i}")).await.unwrap().is_some() {
                won.push(format!("t:{i}"));
            }
            if store.put_if_absent("slots", &format!("slot-{i}"), me.as_bytes(), None).await.unwrap() {
                won.push(format!("p:{i}"));
            }
            let round = format!("round-{i}");
            if store.compare_and_swap("swaps", &round, Some(b"start"), me.as_bytes(), None).await.unwrap() {
                won.push(format!("s:{i}"));
            }
            if store.compare_and_swap("fresh", &round, None, me.as_bytes(), None).await.unwrap() {
                won.push(format!("n:{i}"));
            }
            won
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.join(",")
}

fn parse(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .find_map(|line| line.split_once("RESULT ").map(|(_, rest)| rest))
        .map(|rest| rest.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn processes_sharing_a_directory_take_and_claim_each_entry_exactly_once() {
    // Private to this user (mode 0700): the file store refuses a root open to others.
    let dir = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let store = FileStore::open(dir.path()).await.unwrap();
    for i in 0..CODES {
        store.put("codes", &format!("code-{i}"), b"one-time", None).await.unwrap();
        store.put("swaps", &format!("round-{i}"), b"start", None).await.unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let start_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 1_500;
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "race_child", "--nocapture", "--test-threads", "1"])
                .env(CHILD_VAR, format!("{}|process-{id}|{start_ms}", dir.path().display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut taken = vec![0usize; CODES];
    let mut claimed = vec![Vec::new(); CODES];
    let mut swapped = vec![Vec::new(); CODES];
    let mut created = vec![Vec::new(); CODES];
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "child {id} failed");
        for item in parse(&String::from_utf8_lossy(&out.stdout)) {
            let (kind, index) = item.split_once(':').unwrap();
            let index: usize = index.parse().unwrap();
            match kind {
                "t" => taken[index] += 1,
                "p" => claimed[index].push(id),
                "s" => swapped[index].push(id),
                "n" => created[index].push(id),
                other => panic!("child {id} printed an unknown result kind {other:?}"),
            }
        }
    }
    for i in 0..CODES {
        assert_eq!(taken[i], 1, "code-{i} was taken {} times across processes", taken[i]);
        assert_eq!(claimed[i].len(), 1, "slot-{i} was claimed by {:?}", claimed[i]);
        let owner = store.get("slots", &format!("slot-{i}")).await.unwrap().unwrap();
        assert_eq!(
            owner,
            format!("process-{}", claimed[i][0]).into_bytes(),
            "slot-{i} holds the winner's value"
        );
        for (collection, winners) in [("swaps", &swapped[i]), ("fresh", &created[i])] {
            assert_eq!(winners.len(), 1, "{collection}/round-{i} was swapped by {winners:?}");
            let stored = store.get(collection, &format!("round-{i}")).await.unwrap().unwrap();
            assert_eq!(
                stored,
                format!("process-{}", winners[0]).into_bytes(),
                "{collection}/round-{i} holds the winner's value"
            );
        }
    }
    assert_eq!(store.list_keys("codes", None, 10).await.unwrap(), KeyPage::default(), "every code was taken");
    let winners: std::collections::BTreeSet<usize> = claimed.iter().map(|c| c[0]).collect();
    eprintln!(
        "slots won per process: {:?}",
        (0..PROCESSES).map(|p| claimed.iter().filter(|c| c[0] == p).count()).collect::<Vec<_>>()
    );
    assert!(winners.len() > 1, "only one process ever won: the processes did not actually race");
    let swap_winners: std::collections::BTreeSet<usize> = swapped.iter().map(|s| s[0]).collect();
    assert!(swap_winners.len() > 1, "only one process ever won a swap: the processes did not actually race");
}
