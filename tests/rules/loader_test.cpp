#include "rules/loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "rules/lifecycle.h"

namespace aatune::rules {
namespace {

namespace fs = std::filesystem;

const char* kUuid = "4ab5b8d6-4d2f-4a3b-9b35-5c0e0e0f0a11";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A temp copy of tests/rules/data/editor, a recording loader and a failing one.
class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/aatune-loader-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    tree_ = root_ / "apparmor.d";
    fs::copy(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor", tree_,
             fs::copy_options::recursive);
    log_ = root_ / "loader.log";
    write_script(root_ / "record.sh", "#!/bin/sh\necho \"$@\" >> " + log_.string() + "\n");
    write_script(root_ / "fail.sh",
                 "#!/bin/sh\necho \"$@\" >> " + log_.string() +
                     "\necho 'apparmor_parser: Unable to replace \"foo\".' >&2\nexit 1\n");
    opts_.tree = tree_;
    opts_.state_dir = root_ / "state";
    opts_.loader.parser = APPARMOR_PARSER;
    opts_.loader.loader = {(root_ / "record.sh").string()};
  }
  void TearDown() override { fs::remove_all(root_); }
  static void write_script(const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
    ::chmod(p.c_str(), 0755);
  }
  fs::path root_, tree_, log_;
  CommitOptions opts_;
};

TEST_F(LoaderTest, RunProcessCapturesOutputAndStatus) {
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->output, "out\nerr\n");
  auto missing = run_process({"/nonexistent/prog"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(), "/nonexistent/prog: cannot run: No such file or directory");
}

TEST_F(LoaderTest, ValidateWithTheRealParser) {
  auto ok = validate(tree_ / "usr.bin.foo", tree_, opts_.loader);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->exit_code, 0) << ok->output;
  std::ofstream(tree_ / "broken") << "profile broken {\n  /x rrr zz\n}\n";
  auto bad = validate(tree_ / "broken", tree_, opts_.loader);
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->exit_code, 0);
  EXPECT_NE(bad->output.find("AppArmor parser error"), std::string::npos) << bad->output;
}

TEST_F(LoaderTest, CommitValidatesWritesBacksUpAndReloads) {
  ChangeSet cs;
  cs.description = "add rule";
  auto plan = plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/foo/** r,"},
                         RuleTarget::kProfile);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  auto r = commit(cs, opts_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->diffs.size(), 1u);
  EXPECT_NE(r->diffs[0].diff.find("+  /srv/foo/** r,\n"), std::string::npos);
  EXPECT_NE(slurp(tree_ / "usr.bin.foo").find("  /srv/foo/** r,\n}\n"), std::string::npos);
  EXPECT_EQ(slurp(log_), "-r " + (tree_ / "usr.bin.foo").string() + "\n");
  ASSERT_TRUE(r->backup.has_value());
  EXPECT_TRUE(fs::exists(r->backup->dir / "manifest.json"));
  EXPECT_FALSE(fs::exists(opts_.state_dir / "staging" / std::to_string(::getpid())));
}

TEST_F(LoaderTest, InvalidCandidateIsNotWritten) {
  const std::string before = slurp(tree_ / "usr.bin.foo");
  ChangeSet cs;
  ASSERT_TRUE(plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/foo/** rrr zz"},
                         RuleTarget::kProfile)
                  .has_value());
  auto r = commit(cs, opts_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, CommitError::Kind::kValidation);
  EXPECT_TRUE(r.error().message.starts_with((tree_ / "usr.bin.foo").string() +
                                            ": apparmor_parser rejected the new policy: "))
      << r.error().message;
  EXPECT_EQ(slurp(tree_ / "usr.bin.foo"), before);
  EXPECT_FALSE(fs::exists(log_));
}

TEST_F(LoaderTest, FailedReloadRestoresExactOldBytes) {
  const std::string before = slurp(tree_ / "usr.bin.foo");
  opts_.loader.loader = {(root_ / "fail.sh").string()};
  ChangeSet cs;
  ASSERT_TRUE(
      plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/a r,"}, RuleTarget::kLocal)
          .has_value());
  auto r = commit(cs, opts_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, CommitError::Kind::kReload);
  EXPECT_EQ(r.error().message, (tree_ / "usr.bin.foo").string() +
                                   ": reload failed (apparmor_parser: Unable to replace "
                                   "\"foo\".); all files restored to their old content");
  EXPECT_TRUE(r.error().result.rolled_back);
  EXPECT_EQ(slurp(tree_ / "usr.bin.foo"), before);
  EXPECT_FALSE(fs::exists(tree_ / "local" / "usr.bin.foo"));
}

TEST_F(LoaderTest, LocalOverrideIsCreatedAndIncluded) {
  ChangeSet cs;
  auto plan =
      plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/a r,"}, RuleTarget::kLocal);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  opts_.reload = false;
  auto r = commit(cs, opts_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(slurp(tree_ / "local" / "usr.bin.foo"),
            "# Site-specific additions and overrides for profile 'foo'.\n"
            "# This file is included inside the profile and is kept across package upgrades.\n"
            "/srv/a r,\n");
  EXPECT_NE(slurp(tree_ / "usr.bin.foo").find("  }\n  include if exists <local/usr.bin.foo>\n}\n"),
            std::string::npos);
  EXPECT_EQ(r->skipped, std::vector<std::string>{"reload of " + (tree_ / "usr.bin.foo").string() +
                                                 ": --no-reload"});
  // Undo removes the created file and restores the profile.
  auto u = undo_changes(1, opts_);
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_FALSE(fs::exists(tree_ / "local" / "usr.bin.foo"));
  EXPECT_EQ(slurp(tree_ / "usr.bin.foo"),
            slurp(fs::path(AATUNE_SOURCE_DIR) / "tests/rules/data/editor/usr.bin.foo"));
}

TEST_F(LoaderTest, LibvirtFilesTargetWarns) {
  ChangeSet cs;
  const std::string profile = std::string("libvirt-") + kUuid;
  auto plan = plan_rules(cs, tree_, profile, std::vector<std::string>{"/dev/vfio/7 rw,"},
                         RuleTarget::kLibvirt);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const fs::path files = tree_ / "libvirt" / (profile + ".files");
  ASSERT_EQ(plan->warnings.size(), 1u);
  EXPECT_EQ(plan->warnings[0],
            files.string() +
                " is regenerated by virt-aa-helper when the guest next starts; to keep these "
                "rules, add them to " +
                (tree_ / "libvirt" / profile).string() + " instead");
  auto r = commit(cs, opts_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(slurp(files).ends_with("rwk,\n  /dev/vfio/7 rw,\n"));
  EXPECT_EQ(slurp(log_), "-r " + (tree_ / "libvirt" / profile).string() + "\n");
}

TEST_F(LoaderTest, ChangedSinceReadIsRefused) {
  ChangeSet cs;
  ASSERT_TRUE(
      plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/a r,"}, RuleTarget::kProfile)
          .has_value());
  std::ofstream(tree_ / "usr.bin.foo", std::ios::app) << "# edited meanwhile\n";
  auto r = commit(cs, opts_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, CommitError::Kind::kChanged);
  EXPECT_TRUE(slurp(tree_ / "usr.bin.foo").ends_with("}\n# edited meanwhile\n"));
}

TEST_F(LoaderTest, UndoReversesDisableAndEnable) {
  const fs::path file = tree_ / "usr.bin.foo";
  const fs::path link = tree_ / "disable" / "usr.bin.foo";
  auto d = disable_profile("foo", opts_);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_TRUE(fs::is_symlink(link));
  ASSERT_TRUE(d->commit.backup.has_value());
  EXPECT_EQ(d->files, std::vector<fs::path>{file});
  auto u = undo_changes(1, opts_);
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_FALSE(fs::exists(link) || fs::is_symlink(link));
  ASSERT_EQ(u->messages.size(), 1u);
  EXPECT_EQ(u->messages[0],
            "undid " + d->commit.backup->id + " (disable foo): removed " + link.string());
  EXPECT_EQ(slurp(log_), "-R " + file.string() + "\n-r " + file.string() + "\n");

  // And the other way: enable, then undo puts the link back and unloads again.
  ASSERT_TRUE(disable_profile("foo", opts_).has_value());
  auto e = enable_profile("foo", opts_);
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_FALSE(fs::is_symlink(link));
  auto u2 = undo_changes(1, opts_);
  ASSERT_TRUE(u2.has_value()) << u2.error().message;
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), file);
  EXPECT_EQ(slurp(log_), "-R " + file.string() + "\n-r " + file.string() + "\n-R " + file.string() +
                             "\n-r " + file.string() + "\n-R " + file.string() + "\n");
  // Undone records are not undone twice: next is the disable before the enable.
  auto u3 = undo_changes(1, opts_);
  ASSERT_TRUE(u3.has_value()) << u3.error().message;
  EXPECT_FALSE(fs::is_symlink(link));
  auto none = undo_changes(1, opts_);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().kind, CommitError::Kind::kUsage);
}

TEST_F(LoaderTest, UndoOfMixedActionsGoesNewestFirst) {
  const std::string original = slurp(tree_ / "usr.bin.foo");
  opts_.reload = false;
  ASSERT_TRUE(set_profile_mode("foo", true, opts_).has_value());
  ASSERT_TRUE(disable_profile("foo", opts_).has_value());
  EXPECT_NE(slurp(tree_ / "usr.bin.foo"), original);
  auto u = undo_changes(2, opts_);
  ASSERT_TRUE(u.has_value()) << u.error().message;
  EXPECT_EQ(slurp(tree_ / "usr.bin.foo"), original);
  EXPECT_FALSE(fs::is_symlink(tree_ / "disable" / "usr.bin.foo"));
  ASSERT_EQ(u->messages.size(), 2u);
  EXPECT_TRUE(u->messages[0].ends_with("(disable foo): removed " +
                                       (tree_ / "disable" / "usr.bin.foo").string()))
      << u->messages[0];
  EXPECT_TRUE(u->messages[1].ends_with("(complain foo): 1 file(s) restored")) << u->messages[1];
  EXPECT_EQ(u->skipped, (std::vector<std::string>{
                            "load of " + (tree_ / "usr.bin.foo").string() + ": --no-reload",
                            "reload of " + (tree_ / "usr.bin.foo").string() + ": --no-reload"}));
  EXPECT_FALSE(fs::exists(log_));
}

TEST_F(LoaderTest, UndoRefusesALinkChangedSince) {
  ASSERT_TRUE(disable_profile("foo", opts_).has_value());
  const fs::path link = tree_ / "disable" / "usr.bin.foo";
  fs::remove(link);
  fs::create_symlink("/elsewhere", link);
  auto u = undo_changes(1, opts_);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().kind, CommitError::Kind::kChanged);
  EXPECT_TRUE(
      u.error().message.starts_with(link.string() + ": changed since aatune created it in "))
      << u.error().message;
  EXPECT_EQ(fs::read_symlink(link), "/elsewhere");
}

TEST_F(LoaderTest, FailedLoadDuringUndoKeepsTheProfileDisabled) {
  ASSERT_TRUE(disable_profile("foo", opts_).has_value());
  opts_.loader.loader = {(root_ / "fail.sh").string()};
  auto u = undo_changes(1, opts_);
  ASSERT_FALSE(u.has_value());
  EXPECT_EQ(u.error().kind, CommitError::Kind::kReload);
  EXPECT_TRUE(fs::is_symlink(tree_ / "disable" / "usr.bin.foo"));
  // Still undoable once the kernel accepts it.
  opts_.loader.loader = {(root_ / "record.sh").string()};
  EXPECT_TRUE(undo_changes(1, opts_).has_value());
  EXPECT_FALSE(fs::is_symlink(tree_ / "disable" / "usr.bin.foo"));
}

TEST_F(LoaderTest, SharedFileIsNamedBeforeTheAction) {
  std::vector<std::string> said;
  bool linked_when_said = true;
  const fs::path link = tree_ / "disable" / "usr.sbin.multi";
  auto d = disable_profile("multi-b", opts_, [&](const std::string& s) {
    said.push_back(s);
    linked_when_said = fs::is_symlink(link);
  });
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(said, std::vector<std::string>{(tree_ / "usr.sbin.multi").string() +
                                           " also defines '/usr/sbin/multi-a': they are disabled "
                                           "with it"});
  EXPECT_FALSE(linked_when_said);
  EXPECT_EQ(d->messages,
            std::vector<std::string>{"disabled 'multi-b': " + (tree_ / "usr.sbin.multi").string() +
                                     " linked into " + (tree_ / "disable").string()});
  said.clear();
  const std::string before = slurp(tree_ / "usr.sbin.multi");
  std::string file_when_said;
  auto c = set_profile_mode("/usr/sbin/multi-a", true, opts_, [&](const std::string& s) {
    said.push_back(s);
    file_when_said = slurp(tree_ / "usr.sbin.multi");
  });
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(said, std::vector<std::string>{"reloading " + (tree_ / "usr.sbin.multi").string() +
                                           " also reloads 'multi-b' (unchanged)"});
  EXPECT_EQ(file_when_said, before);
}

TEST_F(LoaderTest, LocalIncludeOutsideTheTreeIsRefused) {
  fs::create_directories(tree_ / "local");
  std::ofstream(tree_ / "evil") << "profile evil {\n  include if exists <local/../../escape>\n}\n";
  ChangeSet cs;
  auto plan = plan_rules(cs, tree_, "evil", std::vector<std::string>{"/x r,"}, RuleTarget::kLocal);
  ASSERT_FALSE(plan.has_value());
  EXPECT_EQ(plan.error().kind, CommitError::Kind::kUsage);
  EXPECT_EQ(plan.error().message,
            (tree_ / "evil").string() +
                ":1: profile 'evil': local include 'local/../../escape' would point outside the "
                "profile tree");
  EXPECT_FALSE(fs::exists(root_ / "escape"));
  auto libvirt = plan_rules(cs, tree_, "libvirt-x/../../../escape",
                            std::vector<std::string>{"/x r,"}, RuleTarget::kLibvirt);
  ASSERT_FALSE(libvirt.has_value());
  EXPECT_EQ(libvirt.error().kind, CommitError::Kind::kUsage);
}

TEST_F(LoaderTest, SymlinkedProfileIsEditedWhereItPointsAndUndone) {
  // A package's profile linked into the tree from elsewhere.
  fs::create_directories(root_ / "pkg");
  const fs::path real = root_ / "pkg" / "usr.bin.foo";
  fs::rename(tree_ / "usr.bin.foo", real);
  fs::create_symlink(real, tree_ / "usr.bin.foo");
  const std::string before = slurp(real);
  ChangeSet cs;
  ASSERT_TRUE(
      plan_rules(cs, tree_, "foo", std::vector<std::string>{"/srv/a r,"}, RuleTarget::kProfile)
          .has_value());
  auto r = commit(cs, opts_);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(fs::is_symlink(tree_ / "usr.bin.foo"));
  EXPECT_NE(slurp(real).find("  /srv/a r,\n"), std::string::npos);
  EXPECT_EQ(slurp(log_), "-r " + (tree_ / "usr.bin.foo").string() + "\n");
  ASSERT_TRUE(undo_changes(1, opts_).has_value());
  EXPECT_TRUE(fs::is_symlink(tree_ / "usr.bin.foo"));
  EXPECT_EQ(slurp(real), before);
}

TEST_F(LoaderTest, FindProfileSuggests) {
  auto r = find_profile(tree_, "fooo");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "no profile 'fooo' in " + tree_.string() + " (did you mean 'foo'?)");
  auto multi = find_profile(tree_, "multi-b");
  ASSERT_TRUE(multi.has_value());
  EXPECT_EQ(multi->others, std::vector<std::string>{"/usr/sbin/multi-a"});
  EXPECT_EQ(find_profile(tree_, "foo//^hat").value().file, tree_ / "usr.bin.foo");
}

}  // namespace
}  // namespace aatune::rules
