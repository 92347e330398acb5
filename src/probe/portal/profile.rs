//! The learned profile of a portal page: what stayed the same over the learning fetches
//! (title, main heading, sub-headings, navigation, the text blocks that never changed), what
//! the page loads and links to, and how much of it changes from one fetch to the next. Kept
//! per target in memory and in one JSON file per target under the data folder, so a restart
//! neither forgets it nor learns a page that may by then be compromised.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::page::Page;
use super::words::Term;

/// The format of the file; a file of another version is learned again.
const VERSION: u32 = 1;

/// What was learned about one page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    /// The URL learned; a target whose `url` changed learns again.
    pub url: String,
    /// Learning fetches so far.
    pub fetches: u32,
    /// The title when every learning fetch had the same one.
    pub title: Option<String>,
    /// The first `h1` when every learning fetch had the same one.
    pub heading: Option<String>,
    /// Whether the title (heading) ever changed while learning: then it is not compared.
    pub title_varies: bool,
    pub heading_varies: bool,
    /// Sub-headings and navigation texts present in every learning fetch.
    pub h2: BTreeSet<String>,
    pub nav: BTreeSet<String>,
    /// `script https://…` and the like, seen in any learning fetch.
    pub origins: BTreeSet<String>,
    pub link_domains: BTreeSet<String>,
    /// Domains of hidden links the page already had (a legitimate skip link, say).
    pub hidden_domains: BTreeSet<String>,
    /// Hashes of the text blocks present in every learning fetch.
    pub stable_blocks: BTreeSet<u64>,
    /// Blocks of the previous learning fetch, to measure change between fetches.
    #[serde(default)]
    pub last_blocks: BTreeSet<u64>,
    /// The largest and the mean share of blocks that changed between two learning fetches.
    pub change_max: f64,
    pub change_sum: f64,
    /// Signatures and spam words the page already had (`casino` in a news story, say).
    pub words_seen: BTreeSet<String>,
    pub learned_at: Option<DateTime<Utc>>,
}

impl Profile {
    pub fn new(url: &str) -> Profile {
        Profile {
            version: VERSION,
            url: url.to_string(),
            ..Profile::default()
        }
    }

    pub fn learning(&self, learn_fetches: u32) -> bool {
        self.fetches < learn_fetches
    }

    /// The mean share of blocks that changed between learning fetches.
    pub fn change_mean(&self) -> f64 {
        if self.fetches > 1 {
            self.change_sum / f64::from(self.fetches - 1)
        } else {
            0.0
        }
    }

    /// Adds one learning fetch; `terms` are the signatures and spam words, so the ones the
    /// page already had are not signals later.
    pub(super) fn learn(
        &mut self,
        page: &Page,
        terms: &[&Term],
        at: DateTime<Utc>,
        learn_fetches: u32,
    ) {
        let first = self.fetches == 0;
        let blocks: BTreeSet<u64> = page.blocks.iter().map(|b| b.hash).collect();
        let h1 = page.h1.first().cloned();
        if first {
            self.title = Some(page.title.clone()).filter(|t| !t.is_empty());
            self.heading = h1;
            self.h2 = page.h2.iter().cloned().collect();
            self.nav = page.nav.iter().cloned().collect();
            self.stable_blocks = blocks.clone();
        } else {
            if self.title.as_deref() != Some(page.title.as_str()) {
                self.title = None;
                self.title_varies = true;
            }
            if self.heading != h1 {
                self.heading = None;
                self.heading_varies = true;
            }
            self.h2.retain(|h| page.h2.contains(h));
            self.nav.retain(|n| page.nav.contains(n));
            self.stable_blocks.retain(|b| blocks.contains(b));
            let changed = changed_share(&self.last_blocks, &blocks);
            self.change_max = self.change_max.max(changed);
            self.change_sum += changed;
        }
        self.origins.extend(page.origins.iter().cloned());
        self.link_domains.extend(page.link_domains.iter().cloned());
        self.hidden_domains
            .extend(page.hidden_links.iter().map(|l| l.domain.clone()));
        for t in terms {
            if page.blocks.iter().any(|b| t.found_in(&b.norm)) {
                self.words_seen.insert(t.shown.clone());
            }
        }
        self.last_blocks = blocks;
        self.fetches += 1;
        if self.fetches >= learn_fetches {
            self.learned_at = Some(at);
            // Only needed while learning.
            self.last_blocks.clear();
        }
    }
}

/// The share of `now`'s blocks that were not in `before`.
pub fn changed_share(before: &BTreeSet<u64>, now: &BTreeSet<u64>) -> f64 {
    if now.is_empty() {
        return 0.0;
    }
    let new = now.iter().filter(|b| !before.contains(b)).count();
    new as f64 / now.len() as f64
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot write the portal profile {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("cannot encode the portal profile: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Every portal target's profile, by target id; clones share them.
#[derive(Clone, Default)]
pub struct PortalProfiles {
    /// Where profiles are kept (`<data folder>/portal/`); `None`: in memory only.
    dir: Option<PathBuf>,
    /// Read the files but never write them (a one-shot `commwatch probe` beside a daemon).
    read_only: bool,
    map: Arc<Mutex<HashMap<String, Arc<Mutex<Profile>>>>>,
}

impl PortalProfiles {
    /// Profiles kept in `dir`, read when a target is first probed and written while it learns.
    pub fn in_dir(dir: PathBuf) -> PortalProfiles {
        PortalProfiles {
            dir: Some(dir),
            ..PortalProfiles::default()
        }
    }

    /// Profiles read from `dir` and never written.
    pub fn read_only(dir: PathBuf) -> PortalProfiles {
        PortalProfiles {
            dir: Some(dir),
            read_only: true,
            ..PortalProfiles::default()
        }
    }

    fn file(&self, target: &str) -> Option<PathBuf> {
        // Target ids are [a-z0-9._-], checked at load: safe as a file name.
        self.dir.as_ref().map(|d| d.join(format!("{target}.json")))
    }

    /// The profile of `target` for `url`: in memory, else from its file, else a new one.
    pub async fn get(&self, target: &str, url: &str) -> Arc<Mutex<Profile>> {
        if let Some(p) = lock(&self.map).get(target).cloned() {
            let stale = lock(&p).url != url;
            if !stale {
                return p;
            }
        }
        let mut loaded = None;
        if let Some(path) = self.file(target)
            && let Ok(bytes) = tokio::fs::read(&path).await
        {
            match serde_json::from_slice::<Profile>(&bytes) {
                Ok(p) if p.version == VERSION && p.url == url => loaded = Some(p),
                Ok(_) => {
                    tracing::info!(
                        target_id = target,
                        "portal profile is for another URL or version: learning again"
                    );
                }
                Err(e) => {
                    tracing::warn!(target_id = target, error = %e, "unreadable portal profile: learning again");
                }
            }
        }
        let p = Arc::new(Mutex::new(loaded.unwrap_or_else(|| Profile::new(url))));
        // Two probes of one target may load at once (the schedule and a `/probe` request):
        // the first entry for this URL stays, so neither loses what the other learns. The map
        // is locked before a profile, never the other way round.
        let mut map = lock(&self.map);
        match map.get(target) {
            Some(existing) if lock(existing).url == url => existing.clone(),
            _ => {
                map.insert(target.to_string(), p.clone());
                p
            }
        }
    }

    /// Writes `profile` to its file (a temporary file renamed over the old one, so a crash
    /// leaves the old or the new profile, never half of one).
    pub async fn save(&self, target: &str, profile: &Profile) -> Result<(), ProfileError> {
        if self.read_only {
            return Ok(());
        }
        let Some(path) = self.file(target) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec_pretty(profile)?;
        let tmp = path.with_extension("json.tmp");
        let write = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        write
            .await
            .map_err(|e| ProfileError::Write(path.clone(), e))
    }
}

/// Locks a mutex; the data (a profile or the map) stays usable if a holder panicked.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
