// Pure rendering: text fitting and golden screens of view models.
#include "tui/view.h"

#include <gtest/gtest.h>

#include "tui/text.h"

namespace aatune::tui {
namespace {

TEST(Text, WidthCountsColumnsNotBytes) {
  EXPECT_EQ(display_width("abc"), 3u);
  EXPECT_EQ(display_width("/srv/vms/é.qcow2"), 16u);
  EXPECT_EQ(display_width("/data/日本"), 10u);  // two wide characters
  EXPECT_EQ(display_width("e\xCC\x81"), 1u);    // e + combining acute
}

TEST(Text, FitPadsAndTruncatesWithEllipsis) {
  EXPECT_EQ(fit("abc", 5), "abc  ");
  EXPECT_EQ(fit("abcdef", 5), "abcd…");
  EXPECT_EQ(fit("日本語x", 5), "日本…");
  EXPECT_EQ(fit("日本語", 4), "日… ");  // a wide char never straddles the edge
  EXPECT_EQ(fit("a\tb", 3), "a?b");     // control bytes cannot move the cursor
  EXPECT_EQ(fit("a\xFF", 2), "a?");     // invalid UTF-8 is shown, not passed through
  EXPECT_EQ(fit("abc", 0), "");
}

TEST(Render, EveryLineIsExactlyTheWidth) {
  ViewModel vm;
  vm.title = "title with 日本 wide chars that is far too long for the screen";
  vm.columns = {{"Name", 0}, {"N", 3}};
  for (int i = 0; i < 30; ++i) vm.rows.push_back({{"/srv/é/" + std::to_string(i), "1"}});
  vm.has_selection = true;
  vm.selected = 25;
  vm.status = "status";
  const auto lines = render(vm, {40, 10});
  ASSERT_EQ(lines.size(), 10u);
  for (const auto& l : lines) EXPECT_EQ(display_width(l), 40u) << l;
  // The selection is kept on screen: 6 body rows, selected is the last of them.
  EXPECT_EQ(lines[7], "> /srv/é/25                         1   ");
}

TEST(Render, GoldenTableScreen) {
  ViewModel vm;
  vm.title = "aatune — profiles (2)";
  vm.columns = {{"Profile", 0}, {"Open", 4}};
  vm.rows = {{{"libvirtd", "2"}}, {{"/usr/sbin/chronyd", "6"}}};
  vm.has_selection = true;
  vm.selected = 1;
  vm.hints = "Enter open  Q quit";
  vm.status = "2 profile(s)";
  const std::vector<std::string> expected{
      "aatune — profiles (2)         ", "  Profile                Open ",
      "  libvirtd               2    ", "> /usr/sbin/chronyd      6    ",
      "                              ", "Enter open  Q quit            ",
      "2 profile(s)                  ",
  };
  EXPECT_EQ(render(vm, {30, 7}), expected);
}

TEST(Render, GoldenFreeTextScrollAndStyles) {
  ViewModel vm;
  vm.title = "review";
  vm.rows = {{{"=== /etc/apparmor.d/local/x"}, Style::kHeading},
             {{"@@ -1,2 +1,3 @@"}},
             {{"+/srv/vms/* rw,"}, Style::kAdded},
             {{"-old,"}, Style::kRemoved}};
  vm.scroll = 2;
  vm.status = "y writes";
  const auto s = render_styled(vm, {20, 5});
  const std::vector<std::string> expected{"review              ", "+/srv/vms/* rw,     ",
                                          "-old,               ", "                    ",
                                          "y writes            "};
  EXPECT_EQ(s.lines, expected);
  EXPECT_EQ(s.styles[1], Style::kAdded);
  EXPECT_EQ(s.styles[2], Style::kRemoved);
  EXPECT_EQ(s.styles[0], Style::kTitle);
}

TEST(Render, OverlayReplacesTheBody) {
  ViewModel vm;
  vm.title = "t";
  vm.rows = {{{"row"}}};
  vm.overlay = {"Keys", "  A allow"};
  const std::vector<std::string> expected{"t         ", "Keys      ", "  A allow ",
                                          "          ", "          ", "          "};
  EXPECT_EQ(render(vm, {10, 6}), expected);
}

}  // namespace
}  // namespace aatune::tui
