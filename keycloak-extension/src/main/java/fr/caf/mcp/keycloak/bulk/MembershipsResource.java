package fr.caf.mcp.keycloak.bulk;

import jakarta.ws.rs.ForbiddenException;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotAuthorizedException;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.BadRequestException;
import jakarta.ws.rs.core.MediaType;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.keycloak.models.ClientModel;
import org.keycloak.models.GroupModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.OrganizationModel;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RoleModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.utils.KeycloakModelUtils;
import org.keycloak.organization.OrganizationProvider;
import org.keycloak.services.managers.AppAuthManager;
import org.keycloak.services.managers.AuthenticationManager.AuthResult;

/**
 * Read-only bulk read of the memberships of the groups and organisations Mon Compte Partenaire manages
 * (those carrying its ownership marker), a page of groups or organisations at a time, each with all its
 * members. Keycloak's admin API reads members one group at a time; a full plan over thousands of partners
 * would pay one request per group.
 *
 * Allowed only to the provisioning client's service account, and only while it holds realm-management's
 * view-users role: the same right the admin API asks for the same data.
 */
public class MembershipsResource {

    static final String MARKER_ATTR = "mcp.managed-by";
    static final String MARKER = "mon-compte-partenaire";
    static final String PARTNER_ATTR = "partner";
    static final int MAX_PAGE = 1000;

    private final KeycloakSession session;
    private final String allowedClientId;

    public MembershipsResource(KeycloakSession session, String allowedClientId) {
        this.session = session;
        this.allowedClientId = allowedClientId;
    }

    @GET
    @Path("memberships")
    @Produces(MediaType.APPLICATION_JSON)
    public List<Map<String, Object>> memberships(@QueryParam("kind") String kind, @QueryParam("first") Integer first,
                                                 @QueryParam("max") Integer max, @QueryParam("partner") String partner) {
        RealmModel realm = authorize();
        int from = first == null ? 0 : first;
        int size = max == null ? 100 : max;
        if (from < 0 || size < 1 || size > MAX_PAGE) {
            throw new BadRequestException("first >= 0 and 1 <= max <= " + MAX_PAGE);
        }
        Map<String, String> marked = new LinkedHashMap<>();
        marked.put(MARKER_ATTR, MARKER);
        if (partner != null && !partner.isEmpty()) {
            marked.put(PARTNER_ATTR, partner);
        }
        if ("groups".equals(kind)) {
            // Keycloak's attribute search has no stable order: page over the sorted ids, not over its rows
            return session.groups().searchGroupsByAttributes(realm, marked, null, null)
                    .sorted(Comparator.comparing(GroupModel::getId)).skip(from).limit(size)
                    .map(g -> entry(g.getId(), "path", KeycloakModelUtils.buildGroupPath(g),
                            session.users().getGroupMembersStream(realm, g)))
                    .collect(Collectors.toList());
        }
        if ("organizations".equals(kind)) {
            OrganizationProvider orgs = session.getProvider(OrganizationProvider.class);
            return orgs.getAllStream(marked, null, null)
                    .sorted(Comparator.comparing(OrganizationModel::getId)).skip(from).limit(size)
                    .map(o -> entry(o.getId(), "alias", o.getAlias(), orgs.getMembersStream(o, (String) null, null, null, null)))
                    .collect(Collectors.toList());
        }
        throw new BadRequestException("kind: groups or organizations");
    }

    private static Map<String, Object> entry(String id, String nameKey, String name, Stream<UserModel> members) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", id);
        out.put(nameKey, name);
        out.put("members", members.map(u -> {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("id", u.getId());
            m.put("username", u.getUsername());
            return m;
        }).collect(Collectors.toList()));
        return out;
    }

    private RealmModel authorize() {
        RealmModel realm = session.getContext().getRealm();
        AuthResult auth = new AppAuthManager.BearerTokenAuthenticator(session).setRealm(realm).authenticate();
        if (auth == null) {
            throw new NotAuthorizedException("Bearer");
        }
        UserModel user = auth.getUser();
        ClientModel client = auth.getClient();
        if (client == null || !allowedClientId.equals(client.getClientId()) || user.getServiceAccountClientLink() == null
                || !client.getId().equals(user.getServiceAccountClientLink())) {
            throw new ForbiddenException("only the provisioning service account");
        }
        ClientModel realmManagement = realm.getClientByClientId("realm-management");
        RoleModel viewUsers = realmManagement == null ? null : realmManagement.getRole("view-users");
        if (viewUsers == null || !user.hasRole(viewUsers)) {
            throw new ForbiddenException("view-users required");
        }
        return realm;
    }
}
