package fr.caf.mcp.keycloak.testclock;

import jakarta.ws.rs.BadRequestException;
import jakarta.ws.rs.ForbiddenException;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotAuthorizedException;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import java.util.Map;
import org.keycloak.common.util.Time;
import org.keycloak.Config;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager.AuthResult;

/** GET or PUT ?seconds=N the offset of Keycloak's clock (Time.setOffset); master realm administrators only. */
public class TestClockResource {

    static final int MAX_OFFSET = 7 * 24 * 3600;
    private final KeycloakSession session;

    public TestClockResource(KeycloakSession session) {
        this.session = session;
    }

    @GET
    @Path("offset")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> offset() {
        authorize();
        return Map.of("offset", Time.getOffset());
    }

    @PUT
    @Path("offset")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> setOffset(@QueryParam("seconds") Integer seconds) {
        authorize();
        if (seconds == null || seconds < 0 || seconds > MAX_OFFSET) {
            throw new BadRequestException("0 <= seconds <= " + MAX_OFFSET);
        }
        Time.setOffset(seconds);
        return Map.of("offset", Time.getOffset());
    }

    private void authorize() {
        RealmModel realm = session.getContext().getRealm();
        if (!Config.getAdminRealm().equals(realm.getName())) {
            throw new ForbiddenException("master realm only");
        }
        AuthResult auth = new AppAuthManager.BearerTokenAuthenticator(session).setRealm(realm).authenticate();
        if (auth == null) {
            throw new NotAuthorizedException("Bearer");
        }
        RoleModel admin = realm.getRole("admin");
        if (admin == null || !auth.user().hasRole(admin)) {
            throw new ForbiddenException("master realm administrators only");
        }
    }
}
