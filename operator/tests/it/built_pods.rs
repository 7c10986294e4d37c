//! The pods the builders make, read the way the kubelet reads them, so a
//! test can start a data pod here as its spec says: the files a container
//! sees under its mounts come from the built ConfigMaps (an `items`
//! projection or a `subPath` shows only what it names), its environment
//! from the built Secret, and its init containers run in order before the
//! main one. What only a node does to a pod (an emptied volume, the modes
//! an fsGroup mount leaves) the tests apply themselves; what cannot be the
//! same here (host names, ports, data paths) they pass as overrides of
//! variables the container has, so a script missing a variable its
//! container lacks still fails here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use payrail_operator::crd::PaymentCluster;
use payrail_operator::reconcile::build::{self, Child, Credentials, Observed};
use payrail_operator::render::Placeholder;

/// Every object the operator builds for one `PaymentCluster`.
pub struct Built(Vec<Child>);

impl Built {
    /// The objects of the cluster named `mini` in namespace `shop`, every
    /// field defaulted but `spec` (JSON).
    pub fn from_spec(spec: serde_json::Value) -> Self {
        let cr: PaymentCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "payrail.dev/v1alpha1",
            "kind": "PaymentCluster",
            "metadata": {"name": "mini", "namespace": "shop"},
            "spec": spec,
        }))
        .unwrap();
        let valid = payrail_operator::reconcile::validate::validate(&cr).unwrap();
        let credentials = Credentials::complete(None, &mut Placeholder);
        Built(build::build(&valid, &credentials, &Observed::default()))
    }

    /// The pod template of the StatefulSet `name`.
    pub fn pod(&self, name: &str) -> PodSpec {
        self.0
            .iter()
            .find_map(|c| match c {
                Child::StatefulSet(s) if c.name() == name => s.spec.as_ref()?.template.spec.clone(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no StatefulSet {name}"))
    }

    fn config_map(&self, name: &str) -> BTreeMap<String, String> {
        self.0
            .iter()
            .find_map(|c| match c {
                Child::ConfigMap(m) if c.name() == name => m.data.clone(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no ConfigMap {name}"))
    }

    fn secret_value(&self, name: &str, key: &str) -> String {
        self.0
            .iter()
            .find_map(|c| match c {
                Child::Secret(s) if c.name() == name => s.data.as_ref()?.get(key).cloned(),
                _ => None,
            })
            .map(|v| String::from_utf8(v.0).unwrap())
            .unwrap_or_else(|| panic!("no key {key} in Secret {name}"))
    }

    /// The files of the ConfigMap volume `volume` of `pod`, by their path
    /// inside the volume: every key, or only what its `items` project.
    fn volume_files(&self, pod: &PodSpec, volume: &str) -> BTreeMap<String, String> {
        // A volume not in the pod is a StatefulSet's claim: data, no files.
        let volume = pod.volumes.iter().flatten().find(|v| v.name == volume);
        let Some(source) = volume.and_then(|v| v.config_map.as_ref()) else { return BTreeMap::new() };
        let data = self.config_map(&source.name);
        match &source.items {
            Some(items) => items.iter().map(|item| (item.path.clone(), data[&item.key].clone())).collect(),
            None => data,
        }
    }

    /// The files `container` sees in directory `dir`, by name, sorted as a
    /// shell's `*` lists them.
    pub fn dir(&self, pod: &PodSpec, container: &Container, dir: &str) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        for mount in container.volume_mounts.iter().flatten() {
            let files_of_volume = self.volume_files(pod, &mount.name);
            match &mount.sub_path {
                // A single file (or directory) of the volume at mount_path.
                Some(sub) => {
                    if let Some((parent, name)) = mount.mount_path.rsplit_once('/')
                        && parent == dir
                        && let Some(text) = files_of_volume.get(sub)
                    {
                        files.insert(name.to_owned(), text.clone());
                    }
                }
                None if mount.mount_path == dir => files.extend(files_of_volume),
                None => {}
            }
        }
        files
    }

    /// The file at `path` as `container` sees it.
    pub fn file(&self, pod: &PodSpec, container: &Container, path: &str) -> Option<String> {
        let (dir, name) = path.rsplit_once('/')?;
        self.dir(pod, container, dir).remove(name)
    }

    /// The script an init container runs: its command is an interpreter
    /// and a script file from a mounted ConfigMap. Returns both.
    pub fn script(&self, pod: &PodSpec, container: &Container) -> (String, String) {
        let command = container.command.clone().expect("a command");
        assert_eq!(command.len(), 2, "interpreter and script: {command:?}");
        let text = self
            .file(pod, container, &command[1])
            .unwrap_or_else(|| panic!("{} does not see {}", container.name, command[1]));
        (command[0].clone(), text)
    }

    /// `container`'s environment: plain values and Secret keys, each
    /// replaced by its override when there is one. Variables taken from
    /// the pod's own fields (its name) are left out.
    pub fn env(&self, container: &Container, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        container
            .env
            .iter()
            .flatten()
            .filter_map(|var| {
                let value = match (&var.value, &var.value_from) {
                    (Some(value), _) => value.clone(),
                    (None, Some(from)) => {
                        let key = from.secret_key_ref.as_ref()?;
                        self.secret_value(&key.name, &key.key)
                    }
                    (None, None) => String::new(),
                };
                let value = overrides
                    .iter()
                    .find(|(name, _)| *name == var.name)
                    .map(|(_, v)| (*v).to_owned())
                    .unwrap_or(value);
                Some((var.name.clone(), value))
            })
            .collect()
    }
}
