#include "rules/lifecycle.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "rules/editor.h"
#include "rules/text.h"

namespace aatune::rules {
namespace fs = std::filesystem;

namespace {

using text::cat;

CommitError usage(std::string message) {
  return CommitError{CommitError::Kind::kUsage, std::move(message), {}};
}

CommitError from_file_error(const FileError& e) {
  CommitError::Kind k = CommitError::Kind::kIo;
  if (e.kind == FileError::Kind::kPermission) k = CommitError::Kind::kPermission;
  if (e.kind == FileError::Kind::kChanged) k = CommitError::Kind::kChanged;
  if (e.kind == FileError::Kind::kLocked) k = CommitError::Kind::kLocked;
  return CommitError{k, e.message, {}};
}

CommitError from_edit_error(const fs::path& file, const EditError& e) {
  return usage(e.line ? cat(file.string(), ":", e.line, ": ", e.message)
                      : cat(file.string(), ": ", e.message));
}

// Files the apparmor init scripts skip: editor and package-manager leftovers.
bool ignored_name(const std::string& name) {
  if (name.empty() || name.starts_with('.') || name.ends_with('~') || name == "README") return true;
  for (std::string_view s : {".dpkg-", ".rpmnew", ".rpmsave", ".orig", ".rej", ".pacnew"}) {
    if (name.find(s) != std::string::npos) return true;
  }
  return false;
}

std::vector<fs::path> policy_files(const fs::path& tree) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(tree, ec), end; !ec && it != end; it.increment(ec)) {
    if (!ignored_name(it->path().filename().string()) && it->is_regular_file(ec)) {
      files.push_back(it->path());
    }
  }
  for (fs::directory_iterator it(tree / "libvirt", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("libvirt-") && !name.ends_with(".files") && !ignored_name(name) &&
        it->is_regular_file(ec)) {
      files.push_back(it->path());
    }
  }
  std::ranges::sort(files);
  return files;
}

std::string without_hat_marks(std::string_view name) {
  std::string out(name);
  for (size_t p; (p = out.find("//^")) != std::string::npos;) out.erase(p + 2, 1);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "'" : ", '") + s + "'";
  return out;
}

// Best effort: the link is made either way; a failed sync only weakens durability on power loss.
std::expected<void, CommitError> fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {};
  ::fsync(fd);
  ::close(fd);
  return {};
}

CommitError loader_failure(const std::string& what,
                           const std::expected<ProcessResult, std::string>& r) {
  CommitError e{CommitError::Kind::kReload, {}, {}};
  if (!r) {
    e.message = cat(what, ": ", r.error());
    return e;
  }
  e.message = cat(what, ": '", r->command_line(), "' failed with exit code ", r->exit_code);
  e.result.reloads.push_back(*r);
  return e;
}

// Says `sentence` through `before` when the caller listens, else keeps it for the result.
void tell(ActionResult& res, const BeforeNotice& before, const std::string& sentence) {
  if (before) {
    before(sentence);
  } else {
    res.messages.push_back(sentence);
  }
}

CommitError link_error(const fs::path& link, std::string_view what, const std::error_code& ec) {
  return from_file_error({ec == std::errc::permission_denied ||
                                  ec == std::errc::read_only_file_system ||
                                  ec == std::errc::operation_not_permitted
                              ? FileError::Kind::kPermission
                              : FileError::Kind::kIo,
                          cat(link.string(), ": ", what, ": ", ec.message())});
}

// Makes `link` a symlink to `target`: symlink() to a temp name, then rename(), so the link appears
// whole or not at all; then fsyncs the directory.
std::expected<void, CommitError> make_link(const fs::path& link, const fs::path& target) {
  const fs::path tmp = link.parent_path() / cat(".aatune-tmp-link-", ::getpid());
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return std::unexpected(link_error(link.parent_path(), "cannot create directory", ec));
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) {
    const CommitError e = link_error(link, "cannot create link", ec);
    fs::remove(tmp, ec);
    return std::unexpected(e);
  }
  return fsync_dir(link.parent_path());
}

std::expected<void, CommitError> remove_link(const fs::path& link) {
  std::error_code ec;
  if (!fs::remove(link, ec) || ec) return std::unexpected(link_error(link, "cannot remove", ec));
  return fsync_dir(link.parent_path());
}

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  return fs::absolute(p, ec).lexically_normal();
}

// The undo record of a disable/enable, written before the link is touched (like a backup before a
// replace): a run killed in between leaves a record whose undo finds nothing to reverse.
std::expected<BackupManifest, CommitError> record_action(const CommitOptions& opts,
                                                         std::string_view description,
                                                         const LinkChange& change,
                                                         const fs::path& profile_file) {
  const std::vector<fs::path> profiles{absolute_normal(profile_file)};
  auto m = record_link_change(opts.state_dir / "backups", absolute_normal(opts.tree), description,
                              change, profiles);
  if (!m) return std::unexpected(from_file_error(m.error()));
  return std::move(*m);
}

// The action did not happen after all: its record must not be undone later.
void abandon(BackupManifest& m) {
  m.undone = true;
  (void)write_manifest(m);
}

// Reverses the disable/enable recorded in `m`.
std::expected<void, CommitError> undo_link_change(const BackupManifest& m,
                                                  const CommitOptions& opts, ActionResult& res) {
  auto lock = TreeLock::acquire(lock_file_for(opts.tree), opts.lock_wait);
  if (!lock) return std::unexpected(from_file_error(lock.error()));
  const LinkChange& l = *m.link;
  std::error_code ec;
  const bool present = fs::is_symlink(l.link, ec) || fs::exists(l.link, ec);
  const bool ours = fs::is_symlink(l.link, ec) && fs::read_symlink(l.link, ec) == l.target;
  if (present && !ours) {
    return std::unexpected(
        CommitError{CommitError::Kind::kChanged,
                    cat(l.link.string(), ": changed since aatune ",
                        l.created ? "created" : "removed", " it in ", m.id, "; not undone"),
                    {}});
  }
  for (const fs::path& p : m.profile_files) res.files.push_back(p);
  // Undo of a disable: the link goes and the profiles are loaded; of an enable: the reverse.
  bool touched = false;
  if (l.created && present) {
    if (auto r = remove_link(l.link); !r) return std::unexpected(r.error());
    touched = true;
  } else if (!l.created && !present) {
    if (auto r = make_link(l.link, l.target); !r) return std::unexpected(r.error());
    touched = true;
  }
  for (const fs::path& p : m.profile_files) {
    if (!opts.reload) {
      res.skipped.push_back(
          cat(l.created ? "load of " : "unload of ", p.string(), ": --no-reload"));
      continue;
    }
    auto r = l.created ? reload(p, opts.loader) : unload(p, opts.loader);
    if (r) res.processes.push_back(*r);
    if (!r || !r->ok()) {
      // Put the link back as it was, so that the tree says what the kernel has.
      if (touched && l.created) (void)make_link(l.link, l.target);
      if (touched && !l.created) (void)remove_link(l.link);
      return std::unexpected(loader_failure(
          cat("cannot ", l.created ? "load " : "unload ", p.string(), "; ", m.id, " not undone"),
          r));
    }
  }
  const char* what = l.created ? (touched ? "removed " : "already no ")
                               : (touched ? "restored " : "already there: ");
  res.messages.push_back(cat("undid ", m.id, " (", m.description, "): ", what, l.link.string()));
  return {};
}

}  // namespace

std::vector<ProfileLocation> list_profiles(const fs::path& tree) {
  std::vector<ProfileLocation> out;
  for (const fs::path& file : policy_files(tree)) {
    auto snap = read_snapshot(file);
    if (!snap) continue;
    auto blocks = find_profile_blocks(snap->content);
    if (!blocks) continue;
    std::vector<std::string> top;
    for (const ProfileBlock& b : *blocks) {
      if (b.depth == 0) top.push_back(b.name);
    }
    for (const ProfileBlock& b : *blocks) {
      ProfileLocation loc{b.name, file, {}};
      const std::string root = b.name.substr(0, b.name.find("//"));
      for (const std::string& t : top) {
        if (t != root) loc.others.push_back(t);
      }
      out.push_back(std::move(loc));
    }
  }
  return out;
}

std::expected<ProfileLocation, CommitError> find_profile(const fs::path& tree,
                                                         std::string_view name) {
  std::error_code ec;
  if (!fs::is_directory(tree, ec)) {
    return std::unexpected(usage(cat(tree.string(), ": not a directory (use --profiles DIR)")));
  }
  const std::string wanted = without_hat_marks(name);
  const std::vector<ProfileLocation> all = list_profiles(tree);
  for (const ProfileLocation& p : all) {
    if (p.name == wanted) return p;
  }
  std::string message = cat("no profile '", name, "' in ", tree.string());
  const ProfileLocation* best = nullptr;
  size_t best_d = 0;
  for (const ProfileLocation& p : all) {
    const size_t d = text::edit_distance(p.name, wanted);
    if (!best || d < best_d) {
      best = &p;
      best_d = d;
    }
  }
  if (best && best_d <= std::max<size_t>(3, wanted.size() / 3)) {
    message += cat(" (did you mean '", best->name, "'?)");
  }
  return std::unexpected(usage(message));
}

std::expected<RulePlan, CommitError> plan_rules(ChangeSet& cs, const fs::path& tree,
                                                std::string_view profile,
                                                std::span<const std::string> rules,
                                                RuleTarget target) {
  RulePlan plan;
  if (target == RuleTarget::kLibvirt) {
    const std::string name(profile);
    const fs::path base = tree / "libvirt" / name;
    std::error_code ec;
    // The name may come from a log line: it must stay one file name inside libvirt/.
    const bool plain =
        name.find('/') == std::string::npos &&
        std::ranges::none_of(name, [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (!plain || !name.starts_with("libvirt-") || !fs::is_regular_file(base, ec)) {
      return std::unexpected(
          usage(cat("no libvirt guest profile '", profile, "' (expected ", base.string(), ")")));
    }
    const fs::path files = tree / "libvirt" / (name + ".files");
    auto edit = cs.edit_for(files);
    if (!edit) return std::unexpected(from_file_error(edit.error()));
    auto ins = insert_top_level_rules((*edit)->new_content, rules);
    if (!ins) return std::unexpected(from_edit_error(files, ins.error()));
    (*edit)->new_content = ins->text;
    plan.added = ins->added;
    plan.present = ins->present;
    if (!plan.added.empty()) {
      plan.warnings.push_back(
          cat(files.string(),
              " is regenerated by virt-aa-helper when the guest next starts; to "
              "keep these rules, add them to ",
              base.string(), " instead"));
    }
    cs.add_profile_file(base);
    return plan;
  }
  auto loc = find_profile(tree, profile);
  if (!loc) return std::unexpected(loc.error());
  auto edit = cs.edit_for(loc->file);
  if (!edit) return std::unexpected(from_file_error(edit.error()));
  cs.add_profile_file(loc->file);
  if (target == RuleTarget::kProfile) {
    auto ins = insert_rules((*edit)->new_content, loc->name, rules);
    if (!ins) return std::unexpected(from_edit_error(loc->file, ins.error()));
    (*edit)->new_content = ins->text;
    plan.added = ins->added;
    plan.present = ins->present;
    return plan;
  }
  auto include = local_include_path((*edit)->new_content, loc->name, loc->file.filename().string());
  if (!include) return std::unexpected(from_edit_error(loc->file, include.error()));
  const fs::path local_file = tree / *include;
  auto local = cs.edit_for(local_file);
  if (!local) return std::unexpected(from_file_error(local.error()));
  // edit_for may grow the vector: pointers from earlier calls are not used after it.
  FileEdit* local_edit = *local;
  std::string local_text = local_edit->new_content;
  if (!local_edit->old.exists && local_text.empty()) local_text = new_local_override(loc->name);
  auto ins = insert_top_level_rules(local_text, rules);
  if (!ins) return std::unexpected(from_edit_error(local_file, ins.error()));
  plan.added = ins->added;
  plan.present = ins->present;
  if (plan.added.empty()) return plan;
  local_edit->new_content = ins->text;
  auto profile_edit_or = cs.edit_for(loc->file);
  if (!profile_edit_or) return std::unexpected(from_file_error(profile_edit_or.error()));
  FileEdit* profile_edit = *profile_edit_or;
  auto inc = ensure_include(profile_edit->new_content, loc->name, *include);
  if (!inc) return std::unexpected(from_edit_error(loc->file, inc.error()));
  profile_edit->new_content = inc->text;
  return plan;
}

std::expected<ActionResult, CommitError> disable_profile(std::string_view name,
                                                         const CommitOptions& opts,
                                                         const BeforeNotice& before) {
  auto loc = find_profile(opts.tree, name);
  if (!loc) return std::unexpected(loc.error());
  if (loc->name.find("//") != std::string::npos) {
    return std::unexpected(
        usage(cat("'", loc->name, "' is a child profile; disable its parent '",
                  loc->name.substr(0, loc->name.find("//")), "' (", loc->file.string(), ")")));
  }
  auto lock = TreeLock::acquire(lock_file_for(opts.tree), opts.lock_wait);
  if (!lock) return std::unexpected(from_file_error(lock.error()));
  ActionResult res;
  res.files.push_back(loc->file);
  const fs::path dir = opts.tree / "disable";
  const fs::path link = dir / loc->file.filename();
  std::error_code ec;
  if (fs::is_symlink(link, ec) || fs::exists(link, ec)) {
    res.messages.push_back(cat("'", loc->name, "' is already disabled (", link.string(), ")"));
    return res;
  }
  if (!loc->others.empty()) {
    tell(res, before,
         cat(loc->file.string(), " also defines ", join(loc->others),
             ": they are disabled with it"));
  }
  fs::create_directories(dir, ec);
  remove_stale_temp_files(dir);
  const LinkChange change{link, fs::absolute(loc->file), true};
  auto record = record_action(opts, cat("disable ", loc->name), change, loc->file);
  if (!record) return std::unexpected(record.error());
  if (auto m = make_link(link, change.target); !m) {
    abandon(*record);
    return std::unexpected(m.error());
  }
  if (opts.reload) {
    auto r = unload(loc->file, opts.loader);
    if (!r || !r->ok()) {
      fs::remove(link, ec);
      (void)fsync_dir(dir);
      abandon(*record);
      return std::unexpected(loader_failure(cat("cannot unload '", loc->name, "'"), r));
    }
    res.processes.push_back(*r);
  } else {
    res.skipped.push_back(cat("unload of ", loc->file.string(), ": --no-reload"));
  }
  res.commit.backup = std::move(*record);
  res.messages.push_back(
      cat("disabled '", loc->name, "': ", loc->file.string(), " linked into ", dir.string()));
  return res;
}

std::expected<ActionResult, CommitError> enable_profile(std::string_view name,
                                                        const CommitOptions& opts,
                                                        const BeforeNotice& before) {
  auto loc = find_profile(opts.tree, name);
  if (!loc) return std::unexpected(loc.error());
  auto lock = TreeLock::acquire(lock_file_for(opts.tree), opts.lock_wait);
  if (!lock) return std::unexpected(from_file_error(lock.error()));
  ActionResult res;
  res.files.push_back(loc->file);
  const fs::path link = opts.tree / "disable" / loc->file.filename();
  std::error_code ec;
  if (!fs::is_symlink(link, ec) && !fs::exists(link, ec)) {
    return std::unexpected(
        usage(cat("'", loc->name, "' is not disabled (no ", link.string(), ")")));
  }
  if (!loc->others.empty()) {
    tell(
        res, before,
        cat(loc->file.string(), " also defines ", join(loc->others), ": they are enabled with it"));
  }
  fs::path target = fs::read_symlink(link, ec);
  if (target.empty()) target = fs::absolute(loc->file);
  const LinkChange change{link, target, false};
  auto record = record_action(opts, cat("enable ", loc->name), change, loc->file);
  if (!record) return std::unexpected(record.error());
  if (auto r = remove_link(link); !r) {
    abandon(*record);
    return std::unexpected(r.error());
  }
  if (opts.reload) {
    auto r = reload(loc->file, opts.loader);
    if (!r || !r->ok()) {
      // Keep the tree consistent with the kernel: the profile stays disabled.
      (void)make_link(link, target);
      abandon(*record);
      return std::unexpected(loader_failure(cat("cannot load '", loc->name, "'"), r));
    }
    res.processes.push_back(*r);
  } else {
    res.skipped.push_back(cat("load of ", loc->file.string(), ": --no-reload"));
  }
  res.commit.backup = std::move(*record);
  res.messages.push_back(cat("enabled '", loc->name, "' (", loc->file.string(), ")"));
  return res;
}

std::expected<ActionResult, CommitError> set_profile_mode(std::string_view name, bool complain,
                                                          const CommitOptions& opts,
                                                          const BeforeNotice& before) {
  auto loc = find_profile(opts.tree, name);
  if (!loc) return std::unexpected(loc.error());
  const char* mode = complain ? "complain" : "enforce";
  ChangeSet cs;
  cs.description = cat(mode, " ", loc->name);
  auto edit = cs.edit_for(loc->file);
  if (!edit) return std::unexpected(from_file_error(edit.error()));
  auto text = set_complain_flag((*edit)->new_content, loc->name, complain);
  if (!text) return std::unexpected(from_edit_error(loc->file, text.error()));
  (*edit)->new_content = *text;
  cs.add_profile_file(loc->file);
  ActionResult res;
  res.files.push_back(loc->file);
  if (*text == (*edit)->old.content) {
    res.messages.push_back(cat("'", loc->name, "' is already in ", mode, " mode"));
    return res;
  }
  if (!loc->others.empty() && opts.reload) {
    tell(
        res, before,
        cat("reloading ", loc->file.string(), " also reloads ", join(loc->others), " (unchanged)"));
  }
  auto committed = commit(cs, opts);
  if (!committed) return std::unexpected(committed.error());
  res.commit = std::move(*committed);
  res.skipped = res.commit.skipped;
  res.messages.push_back(
      cat("'", loc->name, "' is now in ", mode, " mode (", loc->file.string(), ")"));
  return res;
}

std::expected<ActionResult, CommitError> undo_changes(size_t count, const CommitOptions& opts) {
  auto backups = list_backups(opts.state_dir / "backups");
  if (!backups) return std::unexpected(from_file_error(backups.error()));
  std::error_code ec;
  const fs::path tree = fs::weakly_canonical(opts.tree, ec);
  std::vector<BackupManifest> todo;
  for (auto it = backups->rbegin(); it != backups->rend() && todo.size() < count; ++it) {
    if (!it->undone && fs::weakly_canonical(it->tree, ec) == tree) todo.push_back(*it);
  }
  if (todo.empty()) {
    return std::unexpected(usage(cat("nothing to undo for ", opts.tree.string(), " in ",
                                     (opts.state_dir / "backups").string())));
  }
  ActionResult res;
  for (BackupManifest& m : todo) {
    if (m.link) {
      auto r = undo_link_change(m, opts, res);
      if (!r) return std::unexpected(r.error());
      m.undone = true;
      if (auto w = write_manifest(m); !w) return std::unexpected(from_file_error(w.error()));
      continue;
    }
    ChangeSet cs;
    cs.description = cat("undo ", m.id);
    for (const BackupEntry& e : m.entries) {
      // Through the path in the tree: a symlinked profile is restored where the link points.
      auto now = read_snapshot(e.path.empty() ? e.target : e.path);
      if (!now) return std::unexpected(from_file_error(now.error()));
      const bool at_old = now->exists == e.existed && now->hash == e.old_hash;
      if (at_old) continue;
      if (!now->exists || now->hash != e.new_hash) {
        return std::unexpected(
            CommitError{CommitError::Kind::kChanged,
                        cat(e.target.string(), ": changed since aatune wrote it in ", m.id,
                            "; not undone (restore it from ", m.dir.string(), " by hand)"),
                        {}});
      }
      FileEdit edit;
      edit.old = *now;
      if (e.existed) {
        auto old = read_backup(m, e);
        if (!old) return std::unexpected(from_file_error(old.error()));
        edit.new_content = *old;
      } else {
        edit.remove = true;
      }
      cs.edits.push_back(std::move(edit));
    }
    for (const fs::path& p : m.profile_files) {
      if (fs::exists(p, ec)) cs.add_profile_file(p);
    }
    auto committed = commit(cs, opts);
    if (!committed) return std::unexpected(committed.error());
    // Neither the undone change nor the undo itself is a candidate for the next undo.
    m.undone = true;
    if (auto w = write_manifest(m); !w) return std::unexpected(from_file_error(w.error()));
    if (committed->backup) {
      committed->backup->undone = true;
      (void)write_manifest(*committed->backup);
    }
    res.messages.push_back(cat("undid ", m.id, " (", m.description, "): ", committed->diffs.size(),
                               " file(s) restored"));
    for (const auto& d : committed->diffs) res.files.push_back(d.path);
    for (auto& v : committed->validations) res.commit.validations.push_back(std::move(v));
    for (auto& r : committed->reloads) res.commit.reloads.push_back(std::move(r));
    for (auto& d : committed->diffs) res.commit.diffs.push_back(std::move(d));
    for (auto& s : committed->skipped) res.skipped.push_back(std::move(s));
  }
  return res;
}

}  // namespace aatune::rules
