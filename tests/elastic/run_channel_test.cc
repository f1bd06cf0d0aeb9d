// The run channel's encodings and its round trips over an in-memory store.
#include "hemingway/plugin/elastic/run_channel.h"

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include "hemingway/hooks/error.h"

namespace hemingway::elastic {
namespace {

RunChannel channelOn(c10::intrusive_ptr<c10d::Store> store) { return RunChannel(std::move(store)); }

TEST(RunChannelTest, CauseNamesRoundTrip) {
  for (Cause c : {Cause::kStart, Cause::kRequest, Cause::kController, Cause::kFailure}) {
    EXPECT_EQ(causeFromName(causeName(c)), c);
  }
  EXPECT_STREQ(causeName(Cause::kFailure), "failure");
  EXPECT_EQ(causeFromName("Failure"), std::nullopt);
  EXPECT_EQ(causeFromName(""), std::nullopt);
}

TEST(RunChannelTest, MembersRoundTripAndJunkIsRefused) {
  EXPECT_EQ(encodeMembers({3, 0, 1}), "3,0,1");
  EXPECT_EQ(decodeMembers("3,0,1"), (std::vector<int>{3, 0, 1}));
  EXPECT_EQ(decodeMembers(""), std::vector<int>{});
  EXPECT_THROW(decodeMembers("3,x"), ConfigError);
  EXPECT_THROW(decodeMembers("3,-1"), ConfigError);
  EXPECT_THROW(decodeMembers("2 "), ConfigError);
}

TEST(RunChannelTest, RequestsDecodeOnlyWhenWellFormed) {
  const auto r = decodeRequest(encodeRequest({4, Cause::kController}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->worldSize, 4);
  EXPECT_EQ(r->cause, Cause::kController);
  EXPECT_EQ(encodeRequest({2, Cause::kRequest}), "2 request");
  for (const char* bad : {"", "2", "0 request", "-1 request", "2 failure", "2 start", "x request",
                          "2 request extra"}) {
    EXPECT_EQ(decodeRequest(bad), std::nullopt) << bad;
  }
}

TEST(RunChannelTest, APublishedGenerationReadsBackOnAnotherClient) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto launcher = channelOn(store);
  auto worker = channelOn(store);
  launcher.open();
  launcher.publish(0, {0, 1}, Cause::kStart, 0);
  launcher.publish(1, {1, 2, 0}, Cause::kRequest, 2);
  EXPECT_EQ(worker.latest(), 1);
  EXPECT_TRUE(worker.published(1));
  EXPECT_FALSE(worker.published(2));
  EXPECT_EQ(worker.members(1), (std::vector<int>{1, 2, 0}));
  EXPECT_EQ(worker.cause(1), Cause::kRequest);
  EXPECT_EQ(worker.cause(0), Cause::kStart);
}

TEST(RunChannelTest, AbortFormedSwitchStepAndEnd) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto launcher = channelOn(store);
  auto worker = channelOn(store);
  EXPECT_FALSE(worker.aborted(0));
  launcher.abort(0);
  EXPECT_TRUE(worker.aborted(0));
  EXPECT_FALSE(worker.aborted(1));
  EXPECT_FALSE(launcher.formed(3));
  worker.markFormed(3);
  EXPECT_TRUE(launcher.formed(3));
  EXPECT_EQ(worker.switchAt(3), std::nullopt);
  worker.setSwitchAt(3, 41);
  EXPECT_EQ(worker.switchAt(3), 41);
  EXPECT_EQ(worker.step(), std::nullopt);
  worker.publishStep(17);
  EXPECT_EQ(launcher.step(), 17);
  EXPECT_FALSE(launcher.usesElasticApi());
  worker.announceElasticApi();
  EXPECT_TRUE(launcher.usesElasticApi());
  EXPECT_FALSE(worker.ended());
  worker.end();
  EXPECT_TRUE(worker.ended());
  EXPECT_EQ(worker.status(), std::nullopt);
  launcher.writeStatus("{\"generation\":0}");
  EXPECT_EQ(worker.status(), "{\"generation\":0}");
}

TEST(RunChannelTest, TheLauncherTakesEachRequestOnceAndTheNewestWins) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto launcher = channelOn(store);
  auto ctl = channelOn(store);
  launcher.open();
  EXPECT_FALSE(launcher.takeRequest().request.has_value());
  ctl.requestScale({3, Cause::kRequest});
  ctl.requestScale({2, Cause::kController});
  auto taken = launcher.takeRequest();
  ASSERT_TRUE(taken.request.has_value());
  EXPECT_EQ(taken.request->worldSize, 2);
  EXPECT_EQ(taken.request->cause, Cause::kController);
  EXPECT_FALSE(taken.malformed);
  EXPECT_FALSE(launcher.takeRequest().request.has_value()) << "taken twice";
}

TEST(RunChannelTest, AMalformedRequestIsReportedNotApplied) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto launcher = channelOn(store);
  launcher.open();
  const std::string junk = "lots of workers";
  store->set("hemingway/elastic/request", std::vector<uint8_t>(junk.begin(), junk.end()));
  store->add("hemingway/elastic/request_seq", 1);
  const auto taken = launcher.takeRequest();
  EXPECT_TRUE(taken.malformed);
  EXPECT_FALSE(taken.request.has_value());
}

TEST(RunChannelTest, RequestScaleRefusesWhatTheLauncherWouldIgnore) {
  auto channel = channelOn(c10::make_intrusive<c10d::HashStore>());
  EXPECT_THROW(channel.requestScale({0, Cause::kRequest}), ConfigError);
  EXPECT_THROW(channel.requestScale({2, Cause::kFailure}), ConfigError);
}

}  // namespace
}  // namespace hemingway::elastic
