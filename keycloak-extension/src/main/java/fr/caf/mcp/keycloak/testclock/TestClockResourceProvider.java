package fr.caf.mcp.keycloak.testclock;

import org.keycloak.Config;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.EnvironmentDependentProviderFactory;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.services.resource.RealmResourceProviderFactory;

/**
 * /realms/master/mcp-test-clock: moves Keycloak's clock for the test suite (issue 24), as Keycloak's own test
 * suite does, so a test of the 30-minute idle timeout (and Keycloak's fixed 120 s grace window) does not wait.
 *
 * Absent unless the server's environment says MCP_KEYCLOAK_TEST_CLOCK=enabled: only the test instance that
 * devstack starts for the tests sets it; the demo, the cluster and the images never do.
 */
public class TestClockResourceProvider implements RealmResourceProviderFactory, EnvironmentDependentProviderFactory {

    public static final String ID = "mcp-test-clock";

    @Override
    public boolean isSupported(Config.Scope config) {
        return "enabled".equals(System.getenv("MCP_KEYCLOAK_TEST_CLOCK"));
    }

    @Override
    public RealmResourceProvider create(KeycloakSession session) {
        TestClockResource resource = new TestClockResource(session);
        return new RealmResourceProvider() {
            @Override
            public Object getResource() {
                return resource;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public void init(Config.Scope config) {
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }

    @Override
    public String getId() {
        return ID;
    }
}
