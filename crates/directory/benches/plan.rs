//! Directory-sync plan computation (`qiao_directory::plan`) for 10,000 and 100,000 people, next to baselines
//! measured in the same run — cloning the source directory, and hashing every person's fields once — so the
//! numbers to compare across machines are the ratios (printed at the end).
//!
//! The directory is synthetic: one department per ten people in a tree at most six deep, a manager for everyone
//! but the first person, one person in ten in two departments. Measured:
//! - `from_empty`: a platform with nothing on it (every department and user created).
//! - `change_set`: a platform fully synced, against a directory with 1% of people moved to another department,
//!   1% of departments renamed, 0.5% of people gone (deactivated) and a new subtree of 20 departments.
//! - `match_all`: a platform holding everyone, but nothing linked (first sync onto an existing tenant): every
//!   department matched by parent and name, every person by mobile (written differently on the platform for
//!   half of them) or email.
//!
//! Run: `cargo bench -p qiao-directory --bench plan`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use qiao_directory::{
    Department, Directory, Link, Person, PlanOptions, PlatformDepartment, PlatformUser,
    TargetState, plan,
};

const MAX_DEPTH: usize = 6;

/// A small deterministic generator (xorshift64*), so every run plans the same directory.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn directory(people: usize) -> Directory {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ people as u64);
    let count = (people / 10).max(1);
    let mut depth = vec![1usize; count];
    let mut departments = Vec::with_capacity(count);
    departments.push(Department {
        id: "d0".into(),
        name: "Company".into(),
        parent_id: None,
        order: Some(0),
    });
    for i in 1..count {
        let parent = loop {
            let p = rng.below(i);
            if depth[p] < MAX_DEPTH {
                break p;
            }
        };
        depth[i] = depth[parent] + 1;
        departments.push(Department {
            id: format!("d{i}"),
            name: format!("Department {i}"),
            parent_id: Some(format!("d{parent}")),
            order: Some(i as i64 % 17),
        });
    }
    const TITLES: [&str; 5] = ["Engineer", "Manager", "Analyst", "Sales", "Director"];
    let people = (0..people)
        .map(|i| {
            let mut department_ids = vec![format!("d{}", rng.below(count))];
            if i % 10 == 9 {
                let second = format!("d{}", rng.below(count));
                if second != department_ids[0] {
                    department_ids.push(second);
                }
            }
            Person {
                id: format!("p{i}"),
                employee_no: Some(format!("E{i:06}")),
                name: format!("Person {i}"),
                mobile: Some(format!("138{i:08}")),
                email: Some(format!("p{i}@corp.example")),
                title: Some(TITLES[i % TITLES.len()].into()),
                manager_id: (i > 0).then(|| format!("p{}", rng.below(i))),
                department_ids,
                active: true,
                roles: vec![],
            }
        })
        .collect();
    Directory {
        departments,
        people,
    }
}

/// The platform as a complete sync of `directory` leaves it: linked and synced when `linked`; else the same
/// objects under other ids, nothing linked, mobiles and emails written the platform's way for some.
fn platform(directory: &Directory, linked: bool) -> TargetState {
    let dept = |id: &str| format!("pd-{id}");
    let user = |id: &str| format!("pu-{id}");
    let users = directory
        .people
        .iter()
        .enumerate()
        .map(|(i, p)| PlatformUser {
            id: user(&p.id),
            name: p.name.clone(),
            mobile: p.mobile.as_ref().map(|m| {
                if !linked && i % 2 == 0 {
                    format!("+86 {}-{}-{}", &m[..3], &m[3..7], &m[7..])
                } else {
                    m.clone()
                }
            }),
            email: p.email.as_ref().map(|e| {
                if !linked && i % 3 == 0 {
                    e.to_uppercase()
                } else {
                    e.clone()
                }
            }),
            title: p.title.clone(),
            employee_no: p.employee_no.clone(),
            department_ids: p.department_ids.iter().map(|d| dept(d)).collect(),
            manager_id: p.manager_id.as_deref().map(user),
            active: p.active,
        })
        .collect();
    let departments = directory
        .departments
        .iter()
        .map(|d| PlatformDepartment {
            id: dept(&d.id),
            name: d.name.clone(),
            parent_id: d.parent_id.as_deref().map(dept),
            order: d.order,
        })
        .collect();
    if !linked {
        return TargetState {
            departments,
            users,
            ..Default::default()
        };
    }
    TargetState {
        departments,
        users,
        department_links: directory
            .departments
            .iter()
            .map(|d| Link::new(&d.id, dept(&d.id)))
            .collect(),
        person_links: directory
            .people
            .iter()
            .map(|p| Link::new(&p.id, user(&p.id)))
            .collect(),
        synced_departments: directory.departments.clone(),
        synced_people: directory.people.clone(),
    }
}

/// How many of each change `change_set` makes.
struct Changes {
    moved: usize,
    renamed: usize,
    gone: usize,
    new_departments: usize,
}

/// 1% of people moved, 1% of departments renamed, 0.5% of people gone, a new subtree of 20 departments.
fn change_set(directory: &Directory) -> (Directory, Changes) {
    let mut changed = directory.clone();
    let count = directory.departments.len();
    let mut changes = Changes {
        moved: 0,
        renamed: 0,
        gone: 0,
        new_departments: 0,
    };
    for (j, d) in changed.departments.iter_mut().enumerate() {
        if j % 100 == 3 {
            d.name.push_str(" (renamed)");
            changes.renamed += 1;
        }
    }
    for (i, p) in changed.people.iter_mut().enumerate() {
        if i % 100 == 1 {
            let current: usize = p.department_ids[0][1..].parse().unwrap();
            p.department_ids = vec![format!("d{}", (current + 1) % count)];
            changes.moved += 1;
        }
    }
    // A subtree of 20 under the root: 1 + 4 + 15, three levels (depth 4 at most).
    let mut add = |id: String, parent: String| {
        changed.departments.push(Department {
            name: format!("New {id}"),
            id,
            parent_id: Some(parent),
            order: None,
        });
        changes.new_departments += 1;
    };
    add("n0".into(), "d0".into());
    for a in 1..=4 {
        add(format!("n{a}"), "n0".into());
    }
    for b in 0..15 {
        add(format!("n{}", 5 + b), format!("n{}", 1 + b % 4));
    }
    // Leavers: none of them manages anyone who stays, and none of them moved.
    let before = changed.people.len();
    changed.people.retain(|p| {
        let i: usize = p.id[1..].parse().unwrap();
        i % 200 != 7
    });
    changes.gone = before - changed.people.len();
    for p in &mut changed.people {
        if let Some(m) = &p.manager_id {
            let i: usize = m[1..].parse().unwrap();
            if i % 200 == 7 {
                p.manager_id = Some("p0".into());
            }
        }
    }
    (changed, changes)
}

/// The baseline: read every person's fields once, through the standard hasher.
fn hash_people(directory: &Directory) -> u64 {
    let mut total = 0u64;
    for p in &directory.people {
        let mut h = DefaultHasher::new();
        p.id.hash(&mut h);
        p.name.hash(&mut h);
        p.employee_no.hash(&mut h);
        p.mobile.hash(&mut h);
        p.email.hash(&mut h);
        p.title.hash(&mut h);
        p.manager_id.hash(&mut h);
        p.department_ids.hash(&mut h);
        p.active.hash(&mut h);
        total = total.wrapping_add(h.finish());
    }
    total
}

/// Time per iteration of each benchmark as measured (warm-up included), for the ratios.
static TIMES: Mutex<Vec<(String, Duration, u64)>> = Mutex::new(Vec::new());

fn measure<O>(b: &mut criterion::Bencher, name: String, mut f: impl FnMut() -> O) {
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let elapsed = start.elapsed();
        TIMES.lock().unwrap().push((name.clone(), elapsed, iters));
        elapsed
    });
}

fn mean(name: &str) -> Option<Duration> {
    let times = TIMES.lock().unwrap();
    let (total, iters) = times
        .iter()
        .filter(|(n, ..)| n == name)
        .fold((Duration::ZERO, 0u64), |(t, i), (_, d, n)| (t + *d, i + n));
    (iters > 0).then(|| Duration::from_secs_f64(total.as_secs_f64() / iters as f64))
}

fn bench_size(c: &mut Criterion, people: usize) {
    let label = format!("{}k", people / 1000);
    let source = directory(people);
    source.check().expect("the synthetic directory is valid");
    let empty = TargetState::default();
    let synced = platform(&source, true);
    let (changed, changes) = change_set(&source);
    changed.check().expect("the changed directory is valid");
    let unlinked = platform(&source, false);
    let options = PlanOptions::default();

    // What each plan holds, checked once before timing it.
    let full = plan(&source, &empty, &options);
    assert_eq!(full.counts.create_department, source.departments.len());
    assert_eq!(full.counts.create_user, people);
    let delta = plan(&changed, &synced, &options);
    assert_eq!(delta.counts.create_department, changes.new_departments);
    assert_eq!(delta.counts.update_department, changes.renamed);
    assert_eq!(
        delta.counts.update_user,
        changes.moved + delta_managers(&source, &changed)
    );
    assert_eq!(delta.counts.deactivate_user, changes.gone);
    assert_eq!(delta.counts.create_user + delta.counts.delete_department, 0);
    assert!(delta.drift.is_empty() && delta.skipped.is_empty() && !delta.needs_confirmation);
    let matched = plan(&source, &unlinked, &options);
    assert_eq!(matched.counts.link_user, people);
    assert_eq!(matched.counts.link_department, source.departments.len());
    assert_eq!(matched.steps.len(), people + source.departments.len());
    assert!(matched.ambiguous.is_empty());
    println!(
        "{label}: {} departments, {} people; from_empty {} steps; change_set {} steps ({} departments created, \
         {} renamed, {} users updated, {} deactivated); match_all {} links",
        source.departments.len(),
        source.people.len(),
        full.steps.len(),
        delta.steps.len(),
        delta.counts.create_department,
        delta.counts.update_department,
        delta.counts.update_user,
        delta.counts.deactivate_user,
        matched.steps.len(),
    );
    drop((full, delta, matched));

    let mut group = c.benchmark_group(format!("plan_{label}"));
    if people >= 100_000 {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8));
    } else {
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
    }
    let id = |name: &str| BenchmarkId::new(name, &label);
    let key = |name: &str| format!("{name}/{label}");
    group.bench_function(id("baseline_clone"), |b| {
        measure(b, key("baseline_clone"), || source.clone())
    });
    group.bench_function(id("baseline_hash"), |b| {
        measure(b, key("baseline_hash"), || hash_people(&source))
    });
    group.bench_function(id("from_empty"), |b| {
        measure(b, key("from_empty"), || plan(&source, &empty, &options))
    });
    group.bench_function(id("change_set"), |b| {
        measure(b, key("change_set"), || plan(&changed, &synced, &options))
    });
    group.bench_function(id("match_all"), |b| {
        measure(b, key("match_all"), || plan(&source, &unlinked, &options))
    });
    group.finish();
}

/// People whose manager left and who now report to p0 (an update of their manager).
fn delta_managers(before: &Directory, after: &Directory) -> usize {
    let old: std::collections::HashMap<&str, &Person> =
        before.people.iter().map(|p| (p.id.as_str(), p)).collect();
    after
        .people
        .iter()
        .filter(|p| {
            let was = old[p.id.as_str()];
            was.manager_id != p.manager_id && was.department_ids == p.department_ids
        })
        .count()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for people in [10_000, 100_000] {
        bench_size(&mut c, people);
    }
    c.final_summary();

    println!("\nMean time per plan, and as a multiple of each baseline measured in the same run:");
    println!(
        "{:<24} {:>12} {:>14} {:>14}",
        "", "time", "× clone", "× hash"
    );
    for label in ["10k", "100k"] {
        let clone = mean(&format!("baseline_clone/{label}"));
        let hash = mean(&format!("baseline_hash/{label}"));
        for name in [
            "baseline_clone",
            "baseline_hash",
            "from_empty",
            "change_set",
            "match_all",
        ] {
            let key = format!("{name}/{label}");
            let Some(time) = mean(&key) else { continue };
            let ratio = |base: Option<Duration>| {
                base.map_or("-".to_string(), |b| {
                    format!("{:.2}", time.as_secs_f64() / b.as_secs_f64())
                })
            };
            println!(
                "{key:<24} {:>10.2} ms {:>14} {:>14}",
                time.as_secs_f64() * 1e3,
                ratio(clone),
                ratio(hash)
            );
        }
    }
}
