// Command manager runs the Device Auth Operator: the DeviceAuthServer and
// DeviceAuthClient controllers. It never serves OAuth traffic itself.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/deviceauth/deviceauth-operator/api/v1alpha1"
	"github.com/deviceauth/deviceauth-operator/controllers"
)

// defaultServerImage is the server image of DeviceAuthServers without
// spec.image. Release builds set it to the operator's own image with
// -ldflags "-X main.defaultServerImage=IMAGE", so that upgrading the
// operator upgrades its servers.
var defaultServerImage = "ghcr.io/deviceauth/deviceauth-operator:dev"

// leaderElectionID is the name of the Lease that manager replicas elect a
// leader with.
const leaderElectionID = "deviceauth-operator.deviceauth.dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr string
		probeAddr   string
		leaderElect bool
		serverImage string
		zapOptions  = zap.Options{}
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080",
		`Address of the Prometheus metrics endpoint, served over plain HTTP; "0" turns it off.`)
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081",
		"Address of the /healthz and /readyz probe endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false,
		"Elect a leader through a Lease, so that only one of several manager replicas reconciles at a time.")
	flag.StringVar(&serverImage, "server-image", defaultServerImage,
		"Server image of DeviceAuthServers that leave spec.image unset.")
	zapOptions.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       leaderElectionID,
		// The manager exits right after it stops leading, so it may hand
		// the Lease over at once instead of letting it expire.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := controllers.SetupWithManager(ctx, mgr, controllers.Options{ServerImage: serverImage}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}

	log.Info("Starting manager", "serverImage", serverImage, "leaderElection", leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
