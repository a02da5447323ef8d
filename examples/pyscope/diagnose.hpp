// diagnose.hpp: `pyscope diagnose DIR [FILE...]`, a from-scratch run that prints diagnostics
// one per line (by path, then line), in the form of pyscope::diagnostic_line ("rel/path.py:LINE:
// [code] message"): the FILEs given (relative to DIR or absolute), else every analyzed file. What
// the language-server test compares the published diagnostics with.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "workspace.hpp"

namespace pyscope {

inline int diagnose_command(int argc, char** argv, WorkspaceConfig config) {
  std::vector<std::string> wanted;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--site-packages") {
      config.site_packages = true;
    } else if (config.root.empty()) {
      config.root = a;
    } else {
      wanted.push_back(a);
    }
  }
  if (config.root.empty()) {
    std::fprintf(stderr, "usage: pyscope diagnose DIR [FILE...] [--threads N] [--site-packages]\n");
    return 64;
  }
  config.root = normalized_dir(config.root);
  Db db;
  load_workspace(db, config);
  std::vector<File> files;
  if (wanted.empty()) {
    files = db.analyzed;
  } else {
    for (const std::string& w : wanted) {
      const std::string path =
          w.starts_with("/")
              ? w
              : std::filesystem::path(config.root + "/" + w).lexically_normal().string();
      const auto f = find_file(db, path);
      if (!f) {
        std::fprintf(stderr, "pyscope diagnose: no file %s in the workspace\n", path.c_str());
        return 1;
      }
      files.push_back(*f);
    }
  }
  const auto all = diagnose_all(db, files, threads);
  std::vector<std::pair<std::string, std::size_t>> order;  // by path, then line
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string rel = db.path(files[i]);
    if (rel.rfind(config.root + "/", 0) == 0) rel = rel.substr(config.root.size() + 1);
    order.emplace_back(std::move(rel), i);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [rel, i] : order)
    for (const Diagnostic& d : all[i]) std::printf("%s\n", diagnostic_line(rel, d).c_str());
  return 0;
}

}  // namespace pyscope
