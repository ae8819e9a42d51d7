//! What a start and an end of a game cost in trips to the database, counted from sqlx's own log
//! of the statements it sends (on every thread): on PostgreSQL one statement each, with no BEGIN
//! or COMMIT of its own; on SQLite, where every trip is two thread switches to the connection's
//! worker thread, a write alone in its group is four: the transaction and savepoint opening, the
//! game's row, one list of bookkeeping statements, and the closing (in a group, the closing of one
//! write and the opening of the next are one trip). A regression here costs every game CPU.

mod engines;

use humor_game::Difficulty;
use humor_store::{FinalStatus, FinishedGame, NewGameRecord, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;
use uuid::Uuid;

const T0: i64 = 1_795_687_200_000;

/// Counts the statements sqlx logs (the engines run one after the other).
#[derive(Clone, Default)]
struct Statements {
    count: Arc<AtomicUsize>,
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Statements {
    async fn during<T>(&self, work: impl std::future::Future<Output = T>) -> (T, usize) {
        let before = self.count.load(Ordering::SeqCst);
        let out = work.await;
        (out, self.count.load(Ordering::SeqCst) - before)
    }
}

fn game(id: Uuid, player: Uuid) -> NewGameRecord {
    NewGameRecord {
        id,
        player_id: player,
        difficulty: Difficulty::Easy,
        daily: None,
        started_at_ms: T0,
    }
}

fn completed(id: Uuid, player: Uuid, username: &str) -> FinishedGame {
    FinishedGame {
        id,
        player_id: player,
        username: username.into(),
        difficulty: Difficulty::Easy,
        daily: None,
        status: FinalStatus::Completed,
        score: 200,
        moves: 8,
        misses: 0,
        pairs_found: 6,
        time_ms: 30_000,
        pauses: 0,
        finished_at_ms: T0 + 30_000,
        result: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_and_an_end_are_one_statement_each_on_postgres_and_four_trips_on_sqlite() {
    let statements = Statements::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(statements.clone()),
    )
    .expect("the only subscriber of this test binary");
    engines::each_engine(|name, store: Arc<dyn Store>| {
        let statements = statements.clone();
        async move {
            let (player, _) = store
                .claim_player(Uuid::new_v4(), "counted", T0)
                .await
                .expect("player");
            let id = Uuid::new_v4();
            let (started, start_trips) = statements
                .during(store.insert_game(&game(id, player.id)))
                .await;
            assert!(started.expect("start"), "{name}");
            let (ended, end_trips) = statements
                .during(store.finish_game(&completed(id, player.id, &player.username)))
                .await;
            assert!(ended.expect("end"), "{name}");
            // The game's first end is counted in full (every board row and size, both engines).
            let (again, again_trips) = statements
                .during(store.finish_game(&completed(id, player.id, &player.username)))
                .await;
            assert!(
                !again.expect("second end"),
                "{name}: an end is recorded once"
            );
            let expected = match name {
                "postgres" => (1, 1, 1),
                // An end that changed no row stops after the row.
                _ => (4, 4, 3),
            };
            assert_eq!((start_trips, end_trips, again_trips), expected, "{name}");
            let player = store
                .player_by_id(player.id)
                .await
                .expect("read")
                .expect("player");
            assert_eq!(
                (player.games_started, player.games_completed),
                (1, 1),
                "{name}"
            );
        }
    })
    .await;
}
