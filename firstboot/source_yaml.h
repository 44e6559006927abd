// Internal to the config sources: the `mi` YAML schema applied from an already parsed node
// (cluster.yaml's top level, or the `mi:` key of a cloud-config user-data), so NoCloud, the
// config drive and cloud metadata share one parser with cluster.yaml.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "firstboot/config_sources.h"

namespace mi::firstboot {

// "path:line:col" of a node (1-based).
std::string yaml_where(const std::string& path, const YAML::Node& n);
// Parses text as YAML; a syntax error is an mi::Error at "path:line:col".
YAML::Node load_yaml(const std::string& text, const std::string& path);
// Applies the schema's keys from `map`; unknown keys are errors. `allow_secret`: only seeds
// and user-data may carry `secret:` (the image's cluster.yaml is world-readable).
void apply_mi_yaml(const YAML::Node& map, const std::string& path, bool allow_secret, ConfigLayer* layer);
// "a, b,,c" → {"a", "b", "c"}: a comma-separated list, items trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& s);
// The first label of a host name ("ip-10-0-0-11.ec2.internal" → "ip-10-0-0-11").
std::string short_hostname(const std::string& h);

}  // namespace mi::firstboot
