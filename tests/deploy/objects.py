#!/usr/bin/env python3
"""Checks and exports the OpenShift objects that tests/deploy/render made.

  objects.py check RENDERED       references between objects hold (per environment dir)
  objects.py export RENDERED OUT  writes OUT/<env>/: the objects without Secrets and stand-ins,
                                  the Route without its certificate, and fedora-ci.toml

Schemas are kubernetes-validate's job; this checks what no schema can: that each Deployment,
Service, Route and PodDisruptionBudget points at things that exist, with the same names.
"""

import pathlib
import sys

import yaml

ENVIRONMENTS = ("staging", "production")
ROLES = {"api", "worker", "listen", "serve", "migrate", "check-config"}
# Objects that exist only for the references of the others: Fedora infra makes them.
STAND_IN_PREFIXES = ("secret-", "configmap-ipa-client")


def load(env_dir):
    objects = []
    for path in sorted(env_dir.glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects.append((path.name, doc))
    return objects


def check_environment(env_dir):
    errors = []
    objects = load(env_dir)
    by_kind = {}
    for name, obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj

    def error(where, message):
        errors.append(f"{env_dir.name}/{where}: {message}")

    secrets = {n: set((o.get("stringData") or {}) | (o.get("data") or {})) for n, o in by_kind.get("Secret", {}).items()}
    configmaps = {n: set(o.get("data") or {}) for n, o in by_kind.get("ConfigMap", {}).items()}
    image_tags = {
        f"{n}:{tag['name']}" for n, o in by_kind.get("ImageStream", {}).items() for tag in o["spec"].get("tags", [])
    }
    pods = {}  # Deployment name -> (labels, named container ports)

    for name, deployment in by_kind.get("Deployment", {}).items():
        where = f"Deployment {name}"
        spec = deployment["spec"]
        template = spec["template"]
        labels = template["metadata"].get("labels", {})
        selector = spec["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            error(where, f"selector {selector} does not match the pod labels {labels}")
        pod = template["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                error(where, f"volume {volume['name']}: no Secret {volume['secret']['secretName']}")
            if "configMap" in volume and volume["configMap"]["name"] not in configmaps:
                error(where, f"volume {volume['name']}: no ConfigMap {volume['configMap']['name']}")
        ports = set()
        containers = pod["containers"]
        for container in containers:
            cwhere = f"{where} container {container['name']}"
            ports |= {p["name"] for p in container.get("ports", []) if "name" in p}
            mounts = {}
            for mount in container.get("volumeMounts", []):
                volume = volumes.get(mount["name"])
                if volume is None:
                    error(cwhere, f"mount {mount['name']} has no volume")
                    continue
                mounts[mount["mountPath"]] = (volume, mount.get("subPath"))
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if env.get("ROLE") not in ROLES:
                error(cwhere, f"ROLE {env.get('ROLE')!r} is not a run_worker.sh role")
            # Every file the container is told about is a key of a mounted Secret or ConfigMap.
            for key, value in env.items():
                if not (key.endswith("_FILE") or key.endswith("_PATH") or key in (
                        "FEDORA_CI_CONFIG", "KRB5_CONFIG") or key.startswith("FEDORA_CI_MESSAGING__")):
                    continue
                if not resolve_file(value, mounts, secrets, configmaps):
                    error(cwhere, f"{key}={value} is no key of a mounted Secret or ConfigMap")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if "memory" not in resources.get(part, {}):
                    error(cwhere, f"no memory {part}")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str) and port not in ports:
                    error(cwhere, f"{probe} port {port} is not a container port")
        for trigger in yaml.safe_load(deployment["metadata"].get("annotations", {}).get(
                "image.openshift.io/triggers", "[]")):
            if trigger["from"]["name"] not in image_tags:
                error(where, f"image trigger on {trigger['from']['name']}: no such ImageStream tag")
            wanted = trigger["fieldPath"].split('@.name=="')[1].split('"')[0]
            if wanted not in {c["name"] for c in containers}:
                error(where, f"image trigger names container {wanted}, which does not exist")
        pods[name] = (labels, ports)

    services = {}
    for name, service in by_kind.get("Service", {}).items():
        selector = service["spec"]["selector"]
        selected = [d for d, (labels, _) in pods.items() if all(labels.get(k) == v for k, v in selector.items())]
        if not selected:
            error(f"Service {name}", f"selector {selector} matches no Deployment")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort")
            for deployment in selected:
                if isinstance(target, str) and target not in pods[deployment][1]:
                    error(f"Service {name}", f"targetPort {target} is not a port of Deployment {deployment}")
        services[name] = {p.get("name") for p in service["spec"]["ports"]}

    for name, route in by_kind.get("Route", {}).items():
        to = route["spec"]["to"]
        if to["kind"] != "Service" or to["name"] not in services:
            error(f"Route {name}", f"points at {to['kind']} {to['name']}, which does not exist")
        elif route["spec"]["port"]["targetPort"] not in services[to["name"]]:
            error(f"Route {name}", f"targetPort {route['spec']['port']['targetPort']} is not a port of Service {to['name']}")
        if route["spec"].get("tls", {}).get("termination") not in ("edge", "passthrough", "reencrypt"):
            error(f"Route {name}", "tls.termination must be edge, passthrough or reencrypt")
        if not route["spec"].get("host"):
            error(f"Route {name}", "no host")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        selector = pdb["spec"]["selector"]["matchLabels"]
        if not any(all(labels.get(k) == v for k, v in selector.items()) for labels, _ in pods.values()):
            error(f"PodDisruptionBudget {name}", f"selector {selector} matches no Deployment")

    for wanted in ("Deployment", "Service", "Route", "PodDisruptionBudget", "ConfigMap", "ImageStream"):
        if wanted not in by_kind:
            error("", f"no {wanted} rendered")
    return errors, len(objects)


def resolve_file(path, mounts, secrets, configmaps):
    """Whether `path` is a file that one of `mounts` provides."""
    for mount_path, (volume, sub_path) in mounts.items():
        if sub_path is not None:
            if path != mount_path:
                continue
            key = sub_path
        elif path.startswith(mount_path.rstrip("/") + "/"):
            key = path[len(mount_path.rstrip("/")) + 1:]
        else:
            continue
        if "secret" in volume:
            return key in secrets.get(volume["secret"]["secretName"], set())
        if "configMap" in volume:
            return key in configmaps.get(volume["configMap"]["name"], set())
    return False


def export(rendered, out):
    for env in ENVIRONMENTS:
        target = out / env
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*"):
            old.unlink()
        for path in sorted((rendered / env).glob("*.yml")):
            if path.name.startswith(STAND_IN_PREFIXES):
                continue
            text = path.read_text()
            if path.name == "route-api.yml":
                # The certificate and key come from the private repository.
                head, _, _ = text.partition("    certificate: |-\n")
                text = head + "    # certificate, key: from the private repository (deploy/secrets.md)\n"
            (target / path.name).write_text(text)
            if path.name == "configmap.yml":
                config = yaml.safe_load(text)["data"]["fedora-ci.toml"]
                (target / "fedora-ci.toml").write_text(config + "\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        rendered = pathlib.Path(argv[2])
        failures = 0
        for env in ENVIRONMENTS:
            errors, count = check_environment(rendered / env)
            for line in errors:
                print(line)
            failures += len(errors)
            print(f"{env}: {count} objects, {len(errors)} reference errors")
        return 1 if failures else 0
    if len(argv) == 4 and argv[1] == "export":
        export(pathlib.Path(argv[2]), pathlib.Path(argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
