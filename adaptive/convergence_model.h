// The convergence model g(i, m) of P(i, m) - P*, in one of three forms,
// chosen per (job, algorithm) by leave-one-m-out error: each interior
// measured m is held out in turn, every form is fitted on the others, and the
// iterations they predict to reach levels of the held-out curve
// (25/50/75/100% of its log range, cases needing 5+ iterations) are compared
// with the truth; the form with the smallest median relative error serves
// between the measured counts (formAt). At a measured count its own curve
// serves, and beyond the counts the level-set form's extrapolation within
// the algorithm's slope bounds. With fewer than three machine counts there is
// nothing to hold out and the level-set form serves.
// - "lasso": log10(P(i, m) - P*) = sum_j lambda_j phi_j(i, m), fitted by Lasso
//   with cross-validation over a library of fractional, polynomial and
//   logarithmic terms of i and m and their products (convergenceFeatureNames()).
// - "level-set": the measured curves themselves, interpolated between machine
//   counts (level_set_curve.h).
// - "shape": a fast phase, a knee and a power-law tail, smooth in m
//   (shape_curve.h).
//
// - P* is given (a known optimum or a duality-gap certificate) or estimated
//   by profiling: candidates below the smallest observed value (a log grid of
//   distances), each fitted and scored by its profile likelihood for the
//   observed values (Gaussian noise on log10(P - P*), with the Jacobian of
//   the transform); the most likely is kept.
// - Noisy metrics are smoothed: per m, the median over windows of `window`
//   consecutive iterations, then at most `maxPointsPerMachineCount` points
//   spread log-evenly over the iterations.
// - The metric is any value that falls towards an optimum: training loss,
//   held-out error, a duality gap (with P* = 0).
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "hemingway/adaptive/algorithm.h"

#include <Eigen/Dense>

#include "hemingway/adaptive/solvers.h"

namespace hemingway::adaptive {

// The forms of g (see above), in the order ties go to.
enum class Form { kLasso, kLevelSet, kShape };
// "lasso", "level-set", "shape": the words of the report and its JSON.
const char* formName(Form form);

struct LossPoint {
  double machines = 1;
  double iteration = 1;  // 1 for the first iteration
  double loss = 0;
};

std::vector<std::string> convergenceFeatureNames();
// phi(i, m), in the order of convergenceFeatureNames().
Eigen::RowVectorXd convergenceFeatures(double iteration, double machines);

struct ConvergenceOptions {
  std::optional<double> pStar;  // known optimum; estimated when empty
  // The algorithm: it bounds how iteration counts may change with m
  // (slopeBoundsFor in level_set_curve.h) where the level-set form extrapolates.
  Algorithm algorithm = Algorithm::kOther;
  // Compare the forms by leave-one-m-out error (needs 3+ machine counts);
  // false: the Lasso library alone (the paper's form).
  bool chooseForm = true;
  int window = 1;
  int maxPointsPerMachineCount = 200;
  int folds = 5;  // k-fold CV over the smoothed points
  std::uint64_t seed = 1;
  LassoOptions lasso;
};

class LevelSetCurve;
class ShapeCurve;

class ConvergenceModel {
 public:
  static ConvergenceModel fit(const std::vector<LossPoint>& points,
                              ConvergenceOptions options = {});

  FitStatus status() const { return status_; }
  const std::string& problem() const { return problem_; }
  double pStar() const { return pStar_; }
  bool pStarEstimated() const { return pStarEstimated_; }
  const LassoFit& lasso() const { return fit_; }
  // R^2 of log10(P - P*) on the smoothed points.
  double rSquared() const { return rSquared_; }
  std::size_t points() const { return points_; }
  double maxObservedIteration() const { return maxIteration_; }
  // The longest trace at `machines` if it was measured, else the longest of all.
  double longestTraceAt(double machines) const;
  const std::vector<double>& observedMachines() const { return machines_; }

  // The form that serves and its leave-one-m-out median relative error of
  // iterations to a level (empty when not measured) over `heldOutCases()`
  // cases.
  Form form() const { return form_; }
  // The form that serves at `machines`. When the forms were compared,
  // form() serves at unmeasured m between the measured counts; at a measured
  // m (its own curve) and beyond the measured counts (extrapolation within
  // the algorithm's slope bounds) the level-set form does. Otherwise form().
  Form formAt(double machines) const;
  // The form that serves beyond the measured counts.
  Form formBeyondMeasured() const;
  std::optional<double> heldOutError() const { return heldOutError_; }
  std::size_t heldOutCases() const { return heldOutCases_; }
  // Every compared form's leave-one-m-out median relative error, by form.
  const std::map<Form, double>& heldOutErrors() const { return heldOutErrors_; }

  double predictLog10(double iteration, double machines) const;
  double predictLoss(double iteration, double machines) const;
  // The first iteration (up to maxIterations) at which the predicted value
  // is <= target; empty when never.
  std::optional<double> iterationsTo(double target, double machines,
                                     double maxIterations = 1e7) const;
  // An 80% interval [lo, hi] around iterationsTo from the serving form's
  // leave-one-m-out log-ratio errors (their 10% and 90% quantiles, not
  // rounded to whole iterations); empty when the forms could not be compared
  // or the target is never reached. Knee cases (kneeAt) and the others each
  // take the quantiles of their own kind of held-out case when there are
  // kMinCasesPerKind of them. Between two measured counts a and b, each
  // error is first scaled by ln(b / a) over the (wider) gap it was made
  // across. Above the measured counts the errors are those
  // of extrapolating the largest and the second largest count upward from
  // the counts below each; below them, the smallest two downward; at a knee
  // there the interval is widened.
  // - At a measured m, within its trace: the measured iterations themselves.
  // - With fewer than three counts (nothing to hold out in m): at an
  //   unmeasured m, the bounds the algorithm's slope bounds give from the
  //   measured counts either side (slopeBoundsFor), e.g. for sgd between
  //   I(M) M / m and I(M) beyond the largest count M.
  // - Beyond the longest trace (forward in i, extrapolated_iterations): the
  //   errors of forward predictions made from each measured curve cut at a
  //   half and a quarter of its length, each scaled by how far (in log i)
  //   the prediction reaches beyond its trace over how far the case did;
  //   symmetric (the 80% quantile of their sizes: their sign changes with
  //   the phase of a curve), combined with the error in m (root of the sum
  //   of squares, side by side). Empty when fewer than three such cases
  //   could be made.
  std::optional<std::pair<double, double>> iterationsInterval(double target, double machines,
                                                              double maxIterations = 1e7) const;
  // An 80% interval [lo, hi] around predictLoss(iteration, machines): the
  // curve shifted in i by the same log-ratio errors as iterationsInterval at
  // the predicted value (g reaching a level e^r times late means the truth's
  // value at i is g's at i e^r). Empty when the forms could not be compared.
  std::optional<std::pair<double, double>> lossInterval(double iteration, double machines) const;
  // True when intervals at unmeasured m are the slope bounds (fewer than
  // three counts), not held-out quantiles.
  bool intervalsFromSlopeBounds() const { return intervalsFromBounds_; }
  // True where `target` meets a flat part of the curve at the measured count
  // nearest to m: the local slope of log10(P - P*) against log10 i is
  // shallower than kKneeSlope, so a small error in level is a large one in
  // iterations.
  bool kneeAt(double target, double machines) const;
  static constexpr double kKneeSlope = -1.5;
  // Without kMinCasesPerKind held-out knee cases, a knee's interval is the
  // common one widened by this log ratio on each side.
  static constexpr double kKneeWidening = 0.4;
  static constexpr std::size_t kMinCasesPerKind = 5;

 private:
  // The parts of fit(): the points smoothed (and the counts and traces
  // noted), the Lasso form at a given P*, the highest observed start.
  std::vector<LossPoint> prepare(const std::vector<LossPoint>& raw,
                                 const ConvergenceOptions& options);
  bool fitAt(const std::vector<LossPoint>& points, double pStar, const ConvergenceOptions& options);
  void findTop(const std::vector<LossPoint>& points);
  void chooseForm(const std::vector<LossPoint>& points, const ConvergenceOptions& options);
  // Held-out errors by form: ln(predicted / true iterations) of each case.
  using FormErrors = std::map<Form, std::vector<double>>;
  struct HeldOutSet {
    FormErrors errors;
    std::vector<char> knees;   // each case's knee flag (interior cases)
    std::vector<double> gaps;  // each case's gap (interior cases)
  };
  // Every form fitted on `train`, predicting the iterations at which the
  // curve at `mh` (`test`) reaches 25, 50, 75 and 100% of its log range;
  // without `smoothForms` the level-set form alone, and no knees nor gaps.
  void holdOut(const std::vector<LossPoint>& train, const std::vector<LossPoint>& test, double mh,
               bool smoothForms, const ConvergenceOptions& options, HeldOutSet& out) const;
  // The form with the smallest median held-out error, and its intervals.
  void pickForm(const HeldOutSet& interior);
  // Intervals beyond the measured counts, from the extrapolation cases.
  void calibrateBeyond(const std::vector<LossPoint>& points, const ConvergenceOptions& options);
  double lassoLog10(double iteration, double machines) const;  // the Lasso sum itself
  bool measured(double machines) const;                        // one of observedMachines()
  bool outsideMeasured(double machines) const;  // below or above every measured count
  // The 10% and 90% quantiles of the log ratio ln(predicted / true
  // iterations) that apply to `target` on `machines`, predicted to be
  // reached after `predicted` iterations (iterationsInterval); empty when
  // none can be given.
  std::optional<std::pair<double, double>> logRatioBounds(double target, double machines,
                                                          double predicted) const;
  // log10 of the iterations to `target` on each measured count either side
  // of `machines` (one beyond them), as the level-set form reads them.
  std::vector<std::pair<double, double>> neighbourReads(double target, double machines) const;
  // The log-ratio bounds in m that the algorithm's slope bounds give from
  // the neighbours' reads at an unmeasured m.
  std::pair<double, double> slopeBoundRatios(const std::vector<std::pair<double, double>>& reads,
                                             double machines, double predicted) const;
  // The held-out quantiles in m (interior, beyond the counts, at a knee).
  std::pair<double, double> mBounds(double target, double machines) const;
  // How far, in ln i, the prediction at `machines` reads the measured curves
  // beyond their traces: its own at a measured m, else the neighbours' (0
  // within the traces).
  double forwardReach(const std::vector<std::pair<double, double>>& reads, double machines,
                      double predicted) const;
  // Forward cases (iterationsInterval): each measured curve cut short.
  void calibrateForward(const std::vector<LossPoint>& above);

  FitStatus status_ = FitStatus::kTooFewPoints;
  std::string problem_;
  double pStar_ = 0;
  bool pStarEstimated_ = false;
  LassoFit fit_;
  double rSquared_ = 0;
  double topLog10_ = 0;  // the highest observed log10(P - P*)
  std::size_t points_ = 0;
  double maxIteration_ = 0;
  std::map<double, double> longest_;  // by machine count
  std::vector<double> machines_;
  Form form_ = Form::kLasso;
  bool formsCompared_ = false;
  std::optional<double> heldOutError_;
  std::size_t heldOutCases_ = 0;
  std::map<Form, double> heldOutErrors_;
  double residualLow_ = 0, residualHigh_ = 0;  // cases at no knee (or all)
  bool kneeCalibrated_ = false, elsewhereCalibrated_ = false;
  struct HeldOutCase {
    double logRatio = 0;  // ln(predicted / true iterations), the chosen form's
    double gap = 0;       // ln(above / below) of the training counts around the held-out m
    bool knee = false;
  };
  std::vector<HeldOutCase> interiorCases_;
  struct ForwardCase {
    double logRatio = 0;  // ln(predicted / true iterations) from the cut curve
    double reach = 0;     // ln(true iterations / the cut)
  };
  std::vector<ForwardCase> forwardCases_;
  bool intervalsFromBounds_ = false;     // fewer than 3 counts: slope bounds in m
  double kneeLow_ = 0, kneeHigh_ = 0;    // cases at a knee
  double aboveLow_ = 0, aboveHigh_ = 0;  // beyond the largest measured count
  double belowLow_ = 0, belowHigh_ = 0;  // below the smallest
  std::shared_ptr<const LevelSetCurve> levelSet_;
  std::shared_ptr<const ShapeCurve> shape_;
};

}  // namespace hemingway::adaptive
