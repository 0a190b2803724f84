#include "assets.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace parley::web {
namespace {

TEST(Assets, RootServesIndexHtml) {
  const Asset* root = find_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->path, "/index.html");
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(root, find_asset("/index.html"));
  EXPECT_EQ(root, find_asset("/?room=lobby"));
  EXPECT_NE(root->body.find("<!doctype html>"), std::string_view::npos);
}

TEST(Assets, AdminServesAdminHtml) {
  const Asset* admin = find_asset("/admin");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->path, "/admin.html");
  EXPECT_EQ(admin, find_asset("/admin/"));
  EXPECT_EQ(admin, find_asset("/admin.html"));
  EXPECT_EQ(admin->content_type, "text/html; charset=utf-8");
}

TEST(Assets, ScriptsAndStylesHaveTheirTypes) {
  for (std::string_view path : {"/app.js", "/admin.js", "/markdown.js", "/api.js"}) {
    const Asset* asset = find_asset(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->content_type, "text/javascript; charset=utf-8") << path;
    EXPECT_FALSE(asset->body.empty()) << path;
  }
  const Asset* css = find_asset("/style.css");
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
}

TEST(Assets, UnknownPathsAreNull) {
  EXPECT_EQ(find_asset("/nope.js"), nullptr);
  EXPECT_EQ(find_asset("/api/conversations"), nullptr);
  EXPECT_EQ(find_asset("/../CMakeLists.txt"), nullptr);
  EXPECT_EQ(find_asset("app.js"), nullptr);
  EXPECT_EQ(find_asset("/APP.JS"), nullptr);
}

TEST(Assets, TableIsSortedWithQuotedEtags) {
  const auto assets = all_assets();
  ASSERT_FALSE(assets.empty());
  for (std::size_t i = 0; i < assets.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(assets[i - 1].path, assets[i].path);
    }
    EXPECT_TRUE(assets[i].path.starts_with("/")) << assets[i].path;
    ASSERT_GE(assets[i].etag.size(), 3u);
    EXPECT_EQ(assets[i].etag.front(), '"');
    EXPECT_EQ(assets[i].etag.back(), '"');
    EXPECT_NE(assets[i].path.find("/."), 0u) << "hidden files are not embedded";
  }
  EXPECT_NE(find_asset("/app.js")->etag, find_asset("/style.css")->etag);
}

TEST(Assets, ContentTypeByExtension) {
  EXPECT_EQ(content_type_for("/a/b.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("/icon.PNG"), "image/png");
  EXPECT_EQ(content_type_for("/x.json"), "application/json");
  EXPECT_EQ(content_type_for("/x.webmanifest"), "application/manifest+json");
  EXPECT_EQ(content_type_for("/x.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("/README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/dir.d/file"), "application/octet-stream");
}

TEST(Assets, EtagMatching) {
  EXPECT_TRUE(etag_matches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("*", "\"abc\""));
  EXPECT_FALSE(etag_matches("\"abd\"", "\"abc\""));
  EXPECT_FALSE(etag_matches("", "\"abc\""));
  EXPECT_FALSE(etag_matches(" , ", "\"abc\""));
}

}  // namespace
}  // namespace parley::web
