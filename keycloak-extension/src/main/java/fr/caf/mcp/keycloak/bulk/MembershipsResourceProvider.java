package fr.caf.mcp.keycloak.bulk;

import org.keycloak.Config;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.services.resource.RealmResourceProvider;
import org.keycloak.services.resource.RealmResourceProviderFactory;

/** /realms/{realm}/mcp-bulk/memberships: see MembershipsResource. */
public class MembershipsResourceProvider implements RealmResourceProviderFactory {

    public static final String ID = "mcp-bulk";
    private String clientId = "provisioning";

    @Override
    public RealmResourceProvider create(KeycloakSession session) {
        MembershipsResource resource = new MembershipsResource(session, clientId);
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
        clientId = config.get("client-id", "provisioning");  // --spi-realm-restapi-extension--mcp-bulk--client-id
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
